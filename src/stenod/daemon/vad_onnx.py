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
from pathlib import Path

import numpy as np

from stenod.daemon.vad import ChunkedStage, NeuralStage, SileroStage

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


class OnnxSileroStage(ChunkedStage):
    """silero-vad on onnxruntime (as :class:`SileroStage` on torch)."""

    CONTEXT = 64  # samples of the previous chunk the model sees before each chunk

    def __init__(self, sample_rate: int = 16000) -> None:
        super().__init__(sample_rate)
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
        self._reset()

    def _reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, self.CONTEXT), np.float32)

    def _score(self, chunk: np.ndarray) -> float:
        x = np.concatenate((self._context, chunk[None, :]), axis=1)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[:, -self.CONTEXT:]
        return float(out.reshape(-1)[0])


def neural_stage(remote: bool) -> NeuralStage:
    """The ONNX stage where onnxruntime is installed (the default install has it): one thread of its
    own, so it does not share torch's thread pool with the decode running at the same time (on 2
    cores that cost the final's decode 7-15 %); the torch stage where only the model stack is
    installed; for a remote backend the ONNX stage or a clear error (no torch in the process)."""
    if remote or importlib.util.find_spec("onnxruntime") is not None or importlib.util.find_spec("torch") is None:
        return OnnxSileroStage()
    return SileroStage()
