"""The neural VAD stage of the light install (silero-vad's ONNX model on onnxruntime) against the
torch stage the local daemon runs, on the corpus session, waking and sleeping as the daemon does."""

from __future__ import annotations

import numpy as np
import soundfile

from stenod.daemon.vad import SileroStage
from stenod.daemon.vad_onnx import OnnxSileroStage


def test_onnx_stage_matches_the_torch_stage(corpus):
    audio, rate = soundfile.read(corpus.session["path"], dtype="int16")
    audio = audio[: rate * 20]
    torch_stage, onnx_stage = SileroStage(), OnnxSileroStage()
    a, b = [], []
    for i in range(0, len(audio) - 480, 480):  # 30 ms frames; asleep one second in three
        frame, wake = audio[i:i + 480], (i // rate) % 3 != 2
        torch_stage.feed(frame, wake)
        onnx_stage.feed(frame, wake)
        a.append(torch_stage.probability)
        b.append(onnx_stage.probability)
    a, b = np.array(a), np.array(b)
    assert onnx_stage.chunks_run == torch_stage.chunks_run > 300
    assert (a >= 0.5).mean() > 0.3  # the session's speech is heard
    assert np.abs(a - b).max() < 1e-3
