"""OpenAI's transcription API (``POST {base}/audio/transcriptions``), spoken by OpenAI itself and by
OpenAI-compatible servers (vLLM serving Whisper, speaches, `stenod serve`).

Each request is one multipart upload of a WAV file with ``response_format=verbose_json``; the
decoding guards are applied to the answer's segments (``no_speech_prob``, ``avg_logprob``,
``compression_ratio``), as the local backend applies them to its own decode. What cannot travel
there: a request's prefix (refused) and its draft (ignored: the result is the same without it).
The prompt travels as text: :meth:`OpenAiApi.encode_prompt` returns the UTF-8 bytes of the prompt
text as its "tokens" (no tokenizer here), and they are turned back into text for the upload.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Callable, Sequence

import numpy as np

from stenod import SAMPLE_RATE
from stenod.asr.api import BackendStatus
from stenod.asr.guards import GuardConfig, compression_ratio
from stenod.remote.link import Link, RemoteError
from stenod.types import DecodeRequest, Transcript

ROUTE = "/audio/transcriptions"
CHARS_PER_TOKEN = 4  # English text: Whisper's tokenizer makes about one token of four characters


def wav_bytes(audio: np.ndarray) -> bytes:
    """16 kHz mono float32 as a 16-bit WAV file."""
    pcm = (np.clip(audio, -1.0, 32767 / 32768) * 32768).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class OpenAiApi:
    def __init__(self, link: Link, model: str, guards: GuardConfig = GuardConfig()):
        self.link, self.model, self.guards = link, model, guards

    def describe(self) -> tuple[str, str, BackendStatus]:
        """The API has no status: one decode of half a second of silence checks the service and the
        token (a refused token raises RemoteAuthError)."""
        self.decode([DecodeRequest(np.zeros(SAMPLE_RATE // 2, np.float32))], must=False, cancel=None)
        return self.model, "openai", BackendStatus(mode="plain", device="openai", dtype="", attention="",
                                                   batching=False)

    def encode_prompt(self, vocabulary: Sequence[str], context: str, max_tokens: int, *, must: bool) -> list[int]:
        """The prompt text (vocabulary, then the end of `context`, within about `max_tokens`
        tokens) as UTF-8 byte values."""
        if max_tokens <= 0:
            return []
        room = max_tokens * CHARS_PER_TOKEN
        head = (", ".join(vocabulary) + ". ") if vocabulary else ""
        head = head[:room]
        tail = context.strip()
        tail = tail[len(tail) - (room - len(head)):] if len(tail) > room - len(head) else tail
        if len(tail) < len(context.strip()) and " " in tail:
            tail = tail.split(" ", 1)[1]  # start on a whole word
        return list((head + tail).strip().encode("utf-8"))

    def decode(self, requests: Sequence[DecodeRequest], *, must: bool,
               cancel: Callable[[], bool] | None) -> list[Transcript | None]:
        return [self._one(req, must=must, cancel=cancel) for req in requests]

    def _one(self, req: DecodeRequest, *, must: bool, cancel: Callable[[], bool] | None) -> Transcript:
        if req.prefix:
            raise ValueError("a forced prefix cannot travel over the OpenAI API")
        data = {"model": self.model, "response_format": "verbose_json", "temperature": "0"}
        if req.prompt:
            data["prompt"] = bytes(req.prompt).decode("utf-8", errors="ignore")
        started = time.perf_counter()
        answer = self.link.post(ROUTE, must=must, cancel=cancel, data=data,
                                files={"file": ("audio.wav", wav_bytes(req.audio), "audio/wav")})
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise RemoteError(f"{self.link.url}{ROUTE}: expected verbose_json, got {str(answer)[:200]}")
        return self.judge(answer, len(req.audio) / SAMPLE_RATE, elapsed_ms)

    def judge(self, answer: dict, audio_s: float, elapsed_ms: float) -> Transcript:
        """The guards on each segment of a verbose_json answer (a segment without the statistics
        is kept); the Transcript of the segments kept."""
        segments = answer.get("segments")
        if not isinstance(segments, list):
            raise RemoteError(f"{self.link.url}{ROUTE}: verbose_json without 'segments' (is response_format "
                              "supported by this server?)")
        g = self.guards
        kept, reasons, nsps, logprobs, tokens = [], [], [], [], []
        for seg in segments:
            text = str(seg.get("text", "")).strip()
            nsp, lp = float(seg.get("no_speech_prob", 0.0)), float(seg.get("avg_logprob", 0.0))
            ratio = float(seg.get("compression_ratio", compression_ratio(text)))
            nsps.append(nsp)
            logprobs.append(lp)
            if nsp > g.no_speech_threshold:
                reasons.append(f"no_speech_prob {nsp:.2f}")
            elif nsp > g.weak_no_speech and lp < g.logprob_threshold:
                reasons.append(f"no_speech_prob {nsp:.2f} with avg_logprob {lp:.2f}")
            elif ratio > g.compression_ratio_threshold:
                reasons.append("compression ratio above threshold (repetition loop)")
            elif text:
                kept.append(text)
                tokens.extend(t for t in seg.get("tokens", ()) if isinstance(t, int))
        text = " ".join(kept)
        return Transcript(text=text, tokens=tuple(tokens), no_speech_prob=max(nsps, default=0.0),
                          avg_logprob=float(np.mean(logprobs)) if logprobs else 0.0,
                          guard=reasons[0] if reasons else (None if text else "no text"),
                          audio_s=audio_s, decode_ms=elapsed_ms)
