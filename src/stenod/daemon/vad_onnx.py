"""The neural VAD stage without torch: silero-vad's bundled ONNX model run by onnxruntime, for a
daemon whose inference is remote (the light install, `stenod[remote]`). Same model, same 512-sample
chunks and 64-sample context as silero-vad's own ONNX wrapper, in numpy.

silero-vad's package declares torch as a dependency (for its torch API, not used here), so the
light install puts its wheel in with ``pip install --no-deps silero-vad``; its model file is found
without importing the package (whose ``__init__`` imports torch).
"""

from __future__ import annotations

import importlib.util
import logging
from collections import deque
from pathlib import Path

import numpy as np

from stenod.daemon.vad import NeuralStage, SileroStage

log = logging.getLogger("stenod.vad")
MODEL_FILE = "silero_vad.onnx"


class NeuralStageError(RuntimeError):
    """The neural stage cannot run here; the message says what to install (or to turn it off)."""


def onnx_model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise NeuralStageError("vad.neural needs silero-vad's model: pip install --no-deps silero-vad "
                               "(or set vad.neural = false)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise NeuralStageError(f"silero-vad is installed without its ONNX model ({path})")
    return path


class OnnxSileroStage:
    """silero-vad on onnxruntime, only while awake (as :class:`SileroStage`)."""

    CHUNK = 512
    CONTEXT = 64
    CATCH_UP = 8

    def __init__(self, sample_rate: int = 16000) -> None:
        if sample_rate != 16000:
            raise ValueError(f"the neural VAD stage runs at 16000 Hz, got {sample_rate}")
        path = onnx_model_path()
        try:
            import onnxruntime
        except ImportError:
            raise NeuralStageError("vad.neural without torch needs onnxruntime: pip install 'stenod[remote]' "
                                   "(or set vad.neural = false)") from None
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = opts.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
        self._sr = np.array(sample_rate, dtype=np.int64)
        self._buf = np.zeros(0, np.float32)
        self._recent: deque[np.ndarray] = deque(maxlen=self.CATCH_UP)
        self._awake = False
        self.probability = 0.0
        self.chunks_run = 0
        self._reset()

    def _reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, self.CONTEXT), np.float32)

    def _run(self, chunk: np.ndarray) -> None:
        x = np.concatenate((self._context, chunk[None, :]), axis=1)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[:, -self.CONTEXT:]
        self.probability = float(out.reshape(-1)[0])
        self.chunks_run += 1

    def feed(self, frame: np.ndarray, wake: bool) -> None:
        if wake and not self._awake:
            self._reset()
            for chunk in self._recent:
                self._run(chunk)
        self._awake = wake
        if not wake:
            self.probability = 0.0
        self._buf = np.concatenate((self._buf, frame.astype(np.float32) / 32768.0))
        while self._buf.shape[0] >= self.CHUNK:
            chunk, self._buf = self._buf[: self.CHUNK], self._buf[self.CHUNK:]
            self._recent.append(chunk)
            if self._awake:
                self._run(chunk)


def neural_stage(remote: bool) -> NeuralStage:
    """The torch stage where the local model loads torch anyway; the ONNX one for a remote backend
    (no torch in the process), or where torch is not installed."""
    if not remote and importlib.util.find_spec("torch") is not None:
        return SileroStage()
    return OnnxSileroStage()
