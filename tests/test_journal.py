"""The journal of finals (unit), subtitles, and end to end: finals journaled before they are
published, kept across `kill -9` and a restart, printed by `stenod history` and `stenod export`."""

from __future__ import annotations

import json
import signal
import subprocess

from daemon_helpers import wait_ready
from model_fixtures import STENOD
from service_helpers import StdinDaemon, pcm
from stenod.daemon.journal import Journal, read_journal


def _body(i: int, session: str = "s1") -> bytes:
    return json.dumps({"type": "final", "session": session, "utt": i, "text": f"line {i}",
                       "audio": {"start_ms": i * 1000, "end_ms": i * 1000 + 500}}).encode()


def test_journal_appends_rotates_and_reads_back_in_order(tmp_path):
    j = Journal(tmp_path / "j", max_bytes=4096, keep=2)
    for i in range(200):
        j.append(_body(i))
    j.close()
    files = sorted(p.name for p in (tmp_path / "j").iterdir())
    assert files == ["finals.1.jsonl", "finals.2.jsonl", "finals.jsonl"]
    assert all(p.stat().st_size < 4096 + 200 for p in (tmp_path / "j").iterdir())
    assert (tmp_path / "j").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "j" / "finals.jsonl").stat().st_mode & 0o777 == 0o600
    utts = [b["utt"] for b in read_journal(tmp_path / "j")]
    assert utts == list(range(utts[0], 200)) and utts[0] > 0  # oldest rotated away, the rest in order
    again = Journal(tmp_path / "j", max_bytes=4096, keep=2)
    assert [b["utt"] for b in again.recent(5)] == [195, 196, 197, 198, 199]
    assert len(again.recent(1000)) == len(utts)


def test_a_torn_last_line_is_skipped(tmp_path):
    j = Journal(tmp_path, max_bytes=1 << 20)
    j.append(_body(1))
    j.close()
    with open(tmp_path / "finals.jsonl", "ab") as f:
        f.write(b'{"type": "final", "utt": 2, "te')  # a crash mid-write
    assert [b["utt"] for b in read_journal(tmp_path)] == [1]
    j = Journal(tmp_path, max_bytes=1 << 20)
    j.append(_body(3))  # appending after the torn line keeps later finals readable
    j.close()
    assert [b["utt"] for b in read_journal(tmp_path)] == [1, 3]


def test_finals_survive_kill_9_and_restart(corpus, stenod_env, bundled_model, tmp_path):
    env = {**stenod_env, "XDG_STATE_HOME": str(tmp_path / "state")}
    clips = corpus.clips[3:5]
    first = StdinDaemon(env, tmp_path)
    try:
        first.wait_state("ready")
        for clip in clips:
            first.feed(pcm(clip["path"], silence_s=1.0))
        first.rec.wait_for(lambda rows: len([r for r in rows if r["type"] == "final" and r["text"]]) >= 2, 90)
        published = first.finals()
        first.proc.send_signal(signal.SIGKILL)  # no goodbye: only what is on disk counts
        first.proc.wait(timeout=10)
    finally:
        first.close()
    journal = list(read_journal(tmp_path / "state" / "stenod"))
    strip = [{k: v for k, v in e.items() if not k.startswith("_")} for e in published]
    assert [b for b in journal if b["text"]] == strip  # exactly the bodies as published

    second = StdinDaemon(env, tmp_path)
    try:
        wait_ready(env, second.control)
        snap = _snapshot(second.control)
        assert snap["session"] != published[0]["session"]
        assert [f for f in snap["finals"] if f["text"]] == strip
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.proc.wait(timeout=15)
        second.close()

    hist = subprocess.run(STENOD + ["history", "--json", "--since", "1h"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert hist.returncode == 0, hist.stderr
    assert [json.loads(line) for line in hist.stdout.splitlines() if json.loads(line)["text"]] == strip
    plain = subprocess.run(STENOD + ["history"], env=env, capture_output=True, text=True, timeout=30)
    assert [line.split("  ", 1)[1] for line in plain.stdout.splitlines()] == [f["text"] for f in published]
    srt = subprocess.run(STENOD + ["export", "--srt", "--session", published[0]["session"][:8]], env=env,
                         capture_output=True, text=True, timeout=30)
    assert srt.returncode == 0, srt.stderr
    assert srt.stdout.startswith("1\n00:00:") and published[1]["text"].strip() in srt.stdout
    latest = subprocess.run(STENOD + ["export", "--txt"], env=env, capture_output=True, text=True, timeout=30)
    assert [line.split("] ", 1)[1] for line in latest.stdout.splitlines()] == [
        f["text"].strip() for f in published]  # the latest session with finals
    missing = subprocess.run(STENOD + ["export", "--vtt", "--session", "nosuch"], env=env, capture_output=True,
                             text=True, timeout=30)
    assert missing.returncode == 2 and "not in the journal" in missing.stderr


def _snapshot(endpoint: str) -> dict:
    from stenod.clients.control import request

    return request(endpoint, "snapshot", timeout=10)
