"""The dictation gate in the real daemon: corpus speech fed on stdin (`--source -`) to a daemon
started with dictation off; `stenod dictation`, `toggle` and `ptt` between utterances; the
`dictation` field of partials and finals, status replies and events; the Waybar stream; a
registered client and the C example on the same daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf
from door_helpers import Lines, build_subscriber, make_plugin_dist, plugin_env

from conftest import free_endpoint
from daemon_helpers import Recorder, control, start_daemon, wait_ready
from model_fixtures import STENOD

RATE = 16000


class Gated:
    """The daemon, its stdin, a recorder and a Waybar follower started before it."""

    def __init__(self, env, events, ctl, proc, rec, bar):
        self.env, self.events, self.ctl, self.proc, self.rec, self.bar = env, events, ctl, proc, rec, bar

    def feed(self, pcm: np.ndarray) -> None:
        self.proc.stdin.buffer.write(pcm.astype("<i2").tobytes())  # (a text-mode pipe: its bytes below)
        self.proc.stdin.buffer.flush()

    def say(self, clip: dict) -> dict:
        """Feed a clip and a second of silence; return its final (as recorded)."""
        n = len(self.finals())
        self.feed(np.concatenate([load(clip), silence(1.0)]))
        return self.wait_final(n)

    def finals(self) -> list[dict]:
        return [e for e in self.rec.events(("final",)) if e["text"]]

    def wait_final(self, n_before: int) -> dict:
        rows = self.rec.wait_for(lambda rows: len([r for r in rows if r["type"] == "final" and r["text"]]) > n_before,
                                 120)
        return [r for r in rows if r["type"] == "final" and r["text"]][n_before]

    def cmd(self, *args: str) -> dict:
        out = control(self.env, self.ctl, *args)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def partials(self, utt: int) -> list[dict]:
        return [e for e in self.rec.events(("partial",)) if e["utt"] == utt]

    def statuses(self) -> list[dict]:
        return self.rec.events(("status",))


def load(clip: dict) -> np.ndarray:
    audio, rate = sf.read(clip["path"], dtype="int16")
    assert rate == RATE
    return audio


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


@pytest.fixture(scope="module")
def gated(corpus, stenod_env, bundled_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gated")
    events, ctl = free_endpoint(tmp, "events"), free_endpoint(tmp, "control")
    bar = Lines(STENOD + ["status", "--follow", "--waybar", "--events", events, "--control", ctl], stenod_env)
    bar.wait_for(lambda lines: len(lines) >= 1)
    rec = Recorder(events, tmp / "events.jsonl")
    proc = start_daemon(stenod_env, events, ctl, "--source", "-", "--set", "dictation.start=off",
                        stdin=subprocess.PIPE)
    try:
        wait_ready(stenod_env, ctl)
        yield Gated(stenod_env, events, ctl, proc, rec, bar)
    finally:
        proc.send_signal(signal.SIGTERM)  # the end of stdin alone would leave it running (no --exit-at-end)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        rec.stop()
        bar.stop()


def classes(bar: Lines) -> list[str]:
    return [json.loads(line)["class"] for line in bar.lines]


def test_starts_with_dictation_off_from_the_config(gated):
    assert gated.cmd("status")["dictation"] == "off"
    ready = [s for s in gated.statuses() if s["state"] == "ready"]
    assert ready and ready[0]["detail"]["dictation"] == "off"
    human = subprocess.run(STENOD + ["status", "--control", gated.ctl], env=gated.env, capture_output=True,
                           text=True, timeout=30)
    assert any(line.split() == ["dictation", "off"] for line in human.stdout.splitlines()), human.stdout


def test_utterance_while_off_is_not_dictation(gated, corpus):
    final = gated.say(corpus.clips[0])
    assert final["dictation"] is False
    assert all(p["dictation"] is False for p in gated.partials(final["utt"]))
    assert gated.bar.wait_for(lambda lines: classes(gated.bar)[-1] == "dictation-off")


def test_dictation_on_makes_the_next_utterance_dictation(gated, corpus):
    out = subprocess.run(STENOD + ["dictation", "on", "--control", gated.ctl], env=gated.env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "dictation on"
    change = gated.rec.wait_for(lambda rows: any(r["type"] == "status" and r["detail"].get("dictation") == "on"
                                                 for r in rows), 30)
    assert [r for r in change if r["type"] == "status"][-1]["state"] == "ready"
    assert gated.cmd("status")["dictation"] == "on"
    final = gated.say(corpus.clips[1])
    assert final["dictation"] is True
    assert all(p["dictation"] is True for p in gated.partials(final["utt"]))
    # The bar showed the utterance being spoken, then listening again.
    gated.bar.wait_for(lambda lines: classes(gated.bar)[-1] == "listening")
    seen = classes(gated.bar)
    assert seen.index("listening") < len(seen) - 1 - seen[::-1].index("speaking")


def test_toggle_and_a_repeated_state_publish_only_changes(gated):
    before = len(gated.statuses())
    assert gated.cmd("dictation", "on")["dictation"] == "on"  # no change: no event
    assert gated.cmd("toggle")["dictation"] == "off"
    rows = gated.rec.wait_for(lambda rows: len([r for r in rows if r["type"] == "status"]) > before, 30)
    new = [r for r in rows if r["type"] == "status"][before:]
    assert [s["detail"]["dictation"] for s in new] == ["off"]
    gated.bar.wait_for(lambda lines: classes(gated.bar)[-1] == "dictation-off")


def test_push_to_talk_around_an_utterance(gated, corpus, tmp_path):
    """Press, speak, release just before the end of speech is detected: dictated. The next
    utterance, after the release, is not. A registered gated client prints only the first."""
    site = make_plugin_dist(tmp_path / "site")
    shout = Lines(STENOD + ["client", "shout", "--events", gated.events, "--control", gated.ctl],
                  plugin_env(gated.env, site))
    try:
        deadline = time.monotonic() + 60
        while "connected" not in shout.err:  # it has its snapshot: it sees what comes next
            assert time.monotonic() < deadline and shout.proc.poll() is None, shout.err
            time.sleep(0.05)
        clip = corpus.clips[2]
        audio = load(clip)
        speech_end = int(clip["speech"][1] * RATE)
        n_before, starts = len(gated.finals()), len(gated.rec.events(("speech.start",)))
        assert gated.cmd("ptt", "start")["dictation"] == "on"
        gated.feed(audio[:speech_end])
        gated.rec.wait_for(lambda rows: len([r for r in rows if r["type"] == "speech.start"]) > starts, 60)
        assert gated.cmd("ptt", "stop")["dictation"] == "off"
        gated.feed(np.concatenate([audio[speech_end:], silence(1.0)]))
        pressed = gated.wait_final(n_before)
        assert pressed["dictation"] is True
        after = gated.say(corpus.clips[3])
        assert after["dictation"] is False
        shout.wait_for(lambda lines: pressed["text"].upper() in lines, timeout=30)
    finally:
        rc = shout.stop()
    assert rc == 0 and shout.lines == [pressed["text"].upper()]
    modes = [s["detail"]["dictation"] for s in gated.statuses()]
    assert modes[-2:] == ["on", "off"]


def test_c_example_prints_the_final(gated, corpus, tmp_path):
    exe = build_subscriber(tmp_path)
    sub = Lines([str(exe), gated.events], gated.env)
    try:
        time.sleep(2.0)  # the SUB socket connects and subscribes (a PUB socket cannot tell)
        final = gated.say(corpus.clips[4])
        sub.wait_for(lambda lines: len(lines) >= 1, timeout=30)
    finally:
        rc = sub.stop(signal.SIGINT)
    assert sub.lines == [final["text"]] and rc == 0


def test_waybar_stream_shows_paused_and_back(gated):
    assert gated.cmd("pause")["state"] == "paused"
    gated.bar.wait_for(lambda lines: classes(gated.bar)[-1] == "paused")
    assert gated.cmd("resume")["state"] == "ready"
    gated.bar.wait_for(lambda lines: classes(gated.bar)[-1] == "dictation-off")
    seen = classes(gated.bar)
    # Started before the daemon: absent first ("loading" may follow, unless the model loaded
    # before the follower's next try, so it is not required).
    assert seen[0] == "absent"
    # One line per change: no line repeats the one before it.
    lines = gated.bar.lines
    assert all(a != b for a, b in zip(lines, lines[1:])), lines
    for wanted in ("dictation-off", "listening", "speaking", "paused"):
        assert wanted in seen
