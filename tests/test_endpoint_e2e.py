"""Text-aware endpointing with the real model and the real daemon: finals that end early because
their text closes a sentence never cut an utterance in two, even where the speaker pauses inside
a sentence at a place the decode takes for its end ("... looks great. But ...")."""

from __future__ import annotations

import pytest

from conftest import synthesize
from daemon_helpers import overlaps, run_to_end
from model_fixtures import bundled_model, stenod_env  # noqa: F401
from stenod.bench.corpus import load_corpus

# festival's kal voice pauses before "but" and "and" here (up to 360 ms of silence for the
# segmenter), and tiny.en closes the first half with a confident full stop: a decode faster than
# the pause used to end the utterance there.
SENTENCES = [
    "The new design looks great but the buttons are a little too small.",
    "Write down the password somewhere safe and do not share it.",
    "I think the second option is cheaper and much easier to maintain.",
    "The train to the coast was crowded with families on holiday.",
]
# Slower than real time: the verdicts come sooner in the audio's time than on any real-time
# machine, so the pause inside a sentence is still running when they arrive; a long wait for texts
# that do not close a sentence (the rule is what is tested here, not the latency).
SPEED, OPEN_HANGOVER_MS = 0.5, 1400


@pytest.fixture(scope="module")
def paused_session(tmp_path_factory):
    return load_corpus(synthesize(SENTENCES, tmp_path_factory.mktemp("pauses"), "--voices", "fest_kal", "--tempo",
                                  "1.1", "--snr-db", "20", "--seed", "7",
                                  "--session-utterances", str(len(SENTENCES)))).sessions[0]


def test_early_sentence_finals_never_split_an_utterance(paused_session, stenod_env, bundled_model,  # noqa: F811
                                                        tmp_path):
    session = paused_session
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
