"""Text-aware endpointing with the real model and the real daemon on the corpus session: finals
that end early because their text closes a sentence never cut an utterance in two."""

from __future__ import annotations

from daemon_helpers import overlaps, run_to_end
from model_fixtures import bundled_model, stenod_env  # noqa: F401
from stenod.bench.corpus import load_corpus, write_subset

# Slower than real time, and a long wait for texts that do not close a sentence, so that the
# worker's verdicts arrive during the pause even on a loaded machine (the rule is what is tested
# here, not the latency; the first four utterances are 1.6 s or more apart).
SPEED, OPEN_HANGOVER_MS = 0.5, 1400


def test_early_sentence_finals_never_split_the_sessions_utterances(corpus, stenod_env, bundled_model,  # noqa: F811
                                                                   tmp_path):
    sub = load_corpus(write_subset(load_corpus(corpus.dir), tmp_path / "sub", clips=0, utterances=4, noise=[]))
    session = sub.sessions[0]
    events, _ = run_to_end(stenod_env, tmp_path, "--source", f"file:{session.path}", "--speed", str(SPEED),
                           "--exit-at-end", "--set", f"vad.open_hangover_ms={OPEN_HANGOVER_MS}")
    finals = [e for e in events if e["type"] == "final" and e["text"]]
    early = [f for f in finals if f["timings"]["end_reason"] == "sentence"]
    assert len(early) >= 2, [(f["text"], f["timings"]["end_reason"], f["timings"]["end_logprob"]) for f in finals]
    assert len(finals) == len(session.utterances), [f["text"] for f in finals]
    for u in session.utterances:
        fs = [f for f in finals if overlaps(f["audio"]["start_ms"] / 1000, f["audio"]["end_ms"] / 1000, u.start, u.end)]
        assert len(fs) == 1, f"utterance {u.text!r} got {len(fs)} finals"
        if fs[0]["timings"]["end_reason"] == "sentence":  # it ended where the speech did, not inside it
            assert abs(fs[0]["audio"]["end_ms"] / 1000 - u.end) < 0.3, (u.text, fs[0]["audio"])
            assert fs[0]["timings"]["early_decode"] is True
