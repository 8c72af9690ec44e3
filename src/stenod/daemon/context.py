"""The session's recent text, given to Whisper as its prompt: pure, no I/O.

Whisper decodes better with the text before (names, topic, punctuation style), as OpenAI's
``condition_on_previous_text`` and whisper_streaming's committed-text prompt do. The worker adds
each published final; :meth:`PromptContext.text_for` gives what the next utterance's prompt holds:
the finals since the last long pause, at most ``max_chars`` from their end (the backend bounds it
again in tokens).

Only text the guards kept whole enters the context: a final the guards trimmed (a repetition
loop, the token cap) or that decoded with low confidence is left out and starts a new context, so
a hallucination never becomes the prompt that invites it again.
"""

from __future__ import annotations

from stenod import SAMPLE_RATE


class PromptContext:
    def __init__(self, reset_s: float, max_chars: int = 1000, min_logprob: float = -1.0) -> None:
        self._reset = reset_s * SAMPLE_RATE
        self._max = max_chars
        self._min_logprob = min_logprob
        self._text = ""
        self._end: int | None = None  # stream sample where the last final's audio ended

    def add(self, text: str, end: int, *, guard: str | None, avg_logprob: float) -> None:
        """Record a published final ending at sample ``end``."""
        text = text.strip()
        if not text:  # dropped as no speech: nothing was said, the context stands
            return
        if guard is not None or avg_logprob < self._min_logprob:
            self._text, self._end = "", None
            return
        self._text = (self._text + " " + text).strip()[-self._max :]
        self._end = end

    def text_for(self, start: int) -> str:
        """The prompt text for an utterance starting at sample ``start`` ("" after a long pause)."""
        if self._end is None or start - self._end > self._reset:
            return ""
        return self._text


__all__ = ["PromptContext"]
