"""LocalAgreement-2 stabilization of partial transcripts for one utterance. Pure, no I/O.

Whisper re-decodes the whole utterance for every partial, so the tail of the text flickers while
the beginning settles. Clients (typing into a window, captions) need to know which part will not
change. The rule, after whisper_streaming's ``HypothesisBuffer``:

* A word is **committed** once two successive hypotheses agree on it: the committed prefix grows by
  the longest common word prefix of the previous and the current hypothesis (beyond what is
  already committed). Committed words never change or disappear, even if a later hypothesis
  disagrees with them.
* Agreement ignores case and punctuation around a word ("Hello," agrees with "hello"), because
  Whisper often revises those as more context arrives. A newly committed word takes the spelling
  of the current hypothesis; after that its spelling is frozen. Uncommitted words are always
  published in the newest spelling.
* **Alignment**: the current hypothesis normally repeats the committed words first, and its words
  after them form the uncommitted tail. If it disagrees with the committed words, the tail starts
  after the word matching the last committed word, searched within ``ALIGN_SLACK`` words of the
  committed length (nearest first), so a merged or split word in the committed region does not
  drop or repeat tail words; if no such word is found, the tail starts at the committed length.
* The published text is ``committed words + tail``, joined by single spaces, and ``stable_len``
  is the length of the committed words joined by spaces, *without* the separating space after the
  last one: the tail can become empty, and ``text[:stable_len]`` must be a prefix of every later
  text, so it can never end in a space that might vanish.
"""

from __future__ import annotations

import string

ALIGN_SLACK = 2
"""How many words away from the committed length a realigned hypothesis may have moved."""

_PUNCT = string.punctuation + "\u2018\u2019\u201c\u201d\u2026\u00bf\u00a1\u00ab\u00bb\u2013\u2014"


def normalize_word(word: str) -> str:
    """Comparison key of a word: case-folded, with surrounding punctuation removed."""
    return word.casefold().strip(_PUNCT)


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b):
        if normalize_word(x) != normalize_word(y):
            break
        n += 1
    return n


class Stabilizer:
    """Tracks the committed prefix of one utterance's successive hypotheses; see module docstring."""

    def __init__(self) -> None:
        self._committed: list[str] = []
        self._tail: list[str] | None = None  # uncommitted words of the last hypothesis, None at start

    @property
    def committed_words(self) -> tuple[str, ...]:
        """Words that will not change any more, in their published spelling."""
        return tuple(self._committed)

    @property
    def stable_len(self) -> int:
        """Characters of the published text that will not change."""
        return len(" ".join(self._committed))

    def update(self, hypothesis: str) -> tuple[str, int]:
        """Take the next partial hypothesis; return ``(text, stable_len)`` to publish."""
        tail = self._align(hypothesis.split())
        if self._tail is not None:
            agreed = _common_prefix(self._tail, tail)
            self._committed.extend(tail[:agreed])
            tail = tail[agreed:]
        self._tail = tail
        return self._text(tail), self.stable_len

    def reset(self) -> None:
        """Forget the utterance."""
        self._committed = []
        self._tail = None

    def _text(self, tail: list[str]) -> str:
        return " ".join(self._committed + tail)

    def _align(self, words: list[str]) -> list[str]:
        """The words of a hypothesis that come after the committed prefix (see module docstring)."""
        k = len(self._committed)
        if k == 0 or _common_prefix(self._committed, words) == k:
            return words[k:]
        last = normalize_word(self._committed[-1])
        for j in sorted(range(k - ALIGN_SLACK, k + ALIGN_SLACK + 1), key=lambda j: (abs(j - k), j)):
            if 1 <= j <= len(words) and normalize_word(words[j - 1]) == last:
                return words[j:]
        return words[k:]


__all__ = ["ALIGN_SLACK", "Stabilizer", "normalize_word"]
