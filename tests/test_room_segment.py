"""The segmenter in real-room conditions: corpus speech under noise floors that come on after
digital silence or change mid-stream, mains hum and a babble of other talkers. Each utterance must
give exactly one segment. Uses the daemon's classifier (webrtcvad, gates, silero-vad)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import room_streams as rs
from stenod.bench.corpus import build_stream, load_corpus, read_pcm
from stenod.daemon.segment import Segmenter, UttAudio, UttEnd, UttStart, VadConfig
from stenod.daemon.vad import NoiseFloor, SileroStage

L = rs.Layer
ROOMS = {
    "pink -30 after silence": (L("pink", -30, 3.0),),
    "brown -30 after silence": (L("brown", -30, 3.0),),
    "white -35 after silence": (L("white", -35, 3.0),),
    "pink -50, then -30 midway": (L("pink", -50), L("pink", -30, 14.0)),
    "pink -30 switched off midway": (L("pink", -30, 0.0, 14.0),),
    "hum 50 Hz -30": (L("hum50", -30),),
    "hum 60 Hz -30 over pink -45": (L("hum60", -30), L("pink", -45)),
    "babble -30": (L("babble", -30),),
    "babble -35 over hum 50 Hz -40": (L("babble", -35), L("hum50", -40)),
}


@pytest.fixture(scope="module")
def voices(corpus):
    def speech(c):
        return rs.speech_of(read_pcm(c["path"]), tuple(c["speech"]))

    clips = corpus.clips
    return [speech(c) for c in clips[:8]], [speech(c) for c in clips[20:26]]


def segments(pcm: np.ndarray, cfg: VadConfig | None = None, neural: bool = True, block: int = 1600):
    seg = Segmenter(cfg or VadConfig(), 16000, neural=SileroStage() if neural else None)
    events = []
    for i in range(0, len(pcm), block):
        events += seg.feed(i, pcm[i : i + block])
    events += seg.flush()
    starts = {e.utt: e.start for e in events if isinstance(e, UttStart)}
    return [(starts[e.utt], e.end) for e in events if isinstance(e, UttEnd)], events


def extra(stream: rs.RoomStream, segs) -> int:
    return sum(not any(min(s[1], u[1]) - max(s[0], u[0]) > 800 for u in stream.utterances) for s in segs)


def test_old_classifier_merges_under_a_floor_that_starts_after_silence(voices):
    """The failure as it was: digital silence, then a steady pink floor under utterances 1 s
    apart; webrtcvad and the spectral gate alone merge utterances (this test shows the streams
    below are hard, so that their passing means something)."""
    speech, _ = voices
    stream = rs.build(speech, lead_s=3.0, gap_s=1.0, layers=(L("pink", -25, 3.0),), seed=1)
    old = dataclasses.replace(VadConfig(), snr_db=0.0)
    segs, _ = segments(stream.pcm, old, neural=False)
    assert "merged" in rs.segment_status(stream.utterances, segs)


@pytest.mark.parametrize("gap_s", [1.6, 1.0])
@pytest.mark.parametrize("room", list(ROOMS))
def test_one_segment_per_utterance_in_noisy_rooms(voices, room, gap_s):
    speech, babble = voices
    stream = rs.build(speech, lead_s=3.0, gap_s=gap_s, layers=ROOMS[room], babble_voices=babble, seed=len(room))
    segs, _ = segments(stream.pcm)
    status = rs.segment_status(stream.utterances, segs)
    assert status == ["ok"] * len(speech), status
    assert extra(stream, segs) <= 2  # a babble burst may open a segment; the decoder's guards judge it


def test_bench_stream_noise_files_then_session(corpus, tmp_path):
    """The benchmark's stream: the noise files with digital silence between them, then the session."""
    plan = build_stream(load_corpus(corpus.dir), tmp_path / "stream.wav", idle_s=2.0)
    pcm = read_pcm(plan.wav)
    segs, _ = segments(pcm)
    utts = [(round(u.start * 16000), round(u.end * 16000)) for u in plan.utterances]
    assert rs.segment_status(utts, segs) == ["ok"] * len(utts)
    assert extra(rs.RoomStream(pcm, utts), segs) == 0  # noise files and bursts open nothing


def test_neural_stage_does_not_depend_on_block_sizes(voices):
    speech, _ = voices
    stream = rs.build(speech[:3], lead_s=1.0, gap_s=1.0, layers=(L("pink", -30, 0.5),), seed=3)
    _, a = segments(stream.pcm, block=480 * 7 + 13)
    _, b = segments(stream.pcm, block=4096)
    assert [e for e in a if not isinstance(e, UttAudio)] == [e for e in b if not isinstance(e, UttAudio)]


def test_neural_stage_sleeps_in_silence():
    stage = SileroStage()
    for _ in range(96):  # 96 frames of 480 samples: exactly 90 chunks of 512
        stage.feed(np.zeros(480, np.int16), wake=False)
    assert stage.chunks_run == 0 and stage.probability == 0.0
    stage.feed(np.zeros(480, np.int16), wake=True)
    # it catches up on the recent audio (this frame completes no chunk of its own)
    assert stage.chunks_run == SileroStage.CATCH_UP and 0.0 <= stage.probability < 0.5


def test_noise_floor_follows_the_room_up_and_down():
    rng = np.random.default_rng(0)
    floor = NoiseFloor(window=50, smooth=3)
    for _ in range(20):
        floor.update(np.zeros(480, np.int16))
    assert floor.floor_db == -100.0  # digital silence
    loud = lambda: (rng.standard_normal(480) * 32768 * 10 ** (-30 / 20)).astype(np.int16)  # noqa: E731
    for _ in range(60):
        floor.update(loud())
    assert -33 < floor.floor_db < -29  # the silence has left the window
    for _ in range(60):
        floor.update((loud() // 10).astype(np.int16))
    assert -53 < floor.floor_db < -49


def test_the_neural_stage_keeps_torchs_threads():
    """silero-vad's import sets torch to one thread for the whole process, which halved the
    encoder's speed in the daemon; building the stage must leave the count as it was."""
    import subprocess
    import sys

    script = ("import torch; torch.set_num_threads(2); from stenod.daemon.vad import SileroStage; SileroStage(); "
              "print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
