"""Text-aware endpointing: does the decode at a tentative end close a sentence?

At a tentative end (``early_ms`` of silence) the inference worker decodes the utterance so far.
If that text ends a sentence (terminal punctuation that the model is sure of, and no word that
asks for more after it, like "and" or "the"), the segmenter ends the utterance at once instead of
waiting out the hangover; if it does not, the pause is probably inside the sentence and the
segmenter waits longer (up to ``open_hangover_ms``) before ending it. The worker posts a
:class:`SentenceEnd`; the VAD thread hands it to :meth:`Segmenter.sentence_end
<stenod.daemon.segment.Segmenter.sentence_end>`, which alone decides where utterances end, so no
audio is lost or decoded twice. Pure: no I/O, no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stenod.types import Transcript

TERMINAL = (".", "?", "!")
CLOSERS = "\"')]»”’"
# Words a sentence rarely ends on: conjunctions, prepositions, articles, determiners, subject
# pronouns. Erring towards "open" costs latency (a longer wait), erring the other way a split.
OPEN_WORDS = frozenset("""
a an the and or but nor yet because if when while although though unless until whereas than
that which who whom whose of to in on at by for with from into onto about over under after before
between through during without within against among toward towards upon via per
my your his her its our their this these those some any every each very such i we he she they
""".split())
# Abbreviations whose full stop ends no sentence.
ABBREVIATIONS = frozenset("mr mrs ms dr st prof sr jr vs etc e.g i.e approx dept".split())


@dataclass(frozen=True)
class SentenceEnd:
    """The decode of ``[start, end)`` of utterance ``utt`` closes a sentence: the utterance may
    end at ``end`` now (if its speech has not resumed since)."""

    utt: int
    end: int


@dataclass(frozen=True)
class SentenceRule:
    """When a transcript ends a sentence; see the module docstring."""

    min_logprob: float = -0.5
    """The last ``tail_tokens`` tokens (the closing mark and the word before it) must each have at
    least this log-probability: the model is sure the sentence ends there."""
    tail_tokens: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.min_logprob, bool) or not isinstance(self.min_logprob, (int, float)) \
                or not (math.isfinite(self.min_logprob) and self.min_logprob <= 0):
            raise ValueError(f"min_logprob: must be a number <= 0, got {self.min_logprob!r}")
        if isinstance(self.tail_tokens, bool) or not isinstance(self.tail_tokens, int) or self.tail_tokens < 1:
            raise ValueError(f"tail_tokens: must be an integer >= 1, got {self.tail_tokens!r}")

    def ends_sentence(self, t: Transcript) -> bool:
        """True when ``t`` closes a sentence. Text the guards dropped (no speech) closes too:
        there is nothing to wait for."""
        text = t.text.rstrip().rstrip(CLOSERS)
        if not text:
            return not t.text.strip()
        if not text.endswith(TERMINAL) or text.endswith(".."):
            return False
        words = text.split()
        last = words[-1].rstrip(".?!").strip(CLOSERS + "\"(,;:").lower()
        if last in OPEN_WORDS or last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            return False
        tail = t.token_logprobs[-self.tail_tokens:]
        return len(tail) == self.tail_tokens and min(tail) >= self.min_logprob


__all__ = ["SentenceEnd", "SentenceRule", "OPEN_WORDS"]
