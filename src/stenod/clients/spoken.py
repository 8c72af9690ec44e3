"""Spoken punctuation and commands for typed text: "new line", "comma", "scratch that", ...

:class:`SpokenCommands` turns a final's text into what to type (:class:`Rendering`). A phrase is
matched case-insensitively on whole words, ignoring the punctuation Whisper attached to its words
("New line." matches "new line"); that punctuation goes with the phrase. What a phrase types
decides how it joins the text around it:

* closing marks (``.`` ``,`` ``?`` ``!`` ``:`` ``;`` ``)`` ...) attach to the word before, replacing
  the mark Whisper put there ("right? Question mark." -> "right?"), and a space follows;
* opening marks (``(`` ``[`` ...) take a space before and none after;
* layout (only whitespace, e.g. ``"\\n"``) ends the line: no space around it, the text before keeps
  Whisper's punctuation ("Hello, new line. World." -> "Hello,\\nWorld.");
* anything else (``"—"``, an emoji, a word) stands as a word of its own; one that starts with a
  line break (``"\\n- "``) ends the line like layout, one that ends with a space takes no other.

After a sentence end (``.`` ``?`` ``!``) or a line break the next word starts with a capital. Text
outside the phrases is kept exactly as Whisper wrote it. "scratch that" discards what was said
before it in the same utterance, or, at the start of one, asks to delete the previous typed
utterance (:attr:`Rendering.scratch`). The user's ``[dictation] commands`` add phrases or override
built-in ones; an empty string removes one ("scratch that" included).

Pure: no I/O, only used by the typing client (captions and the bus always get the raw text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SCRATCH = "scratch that"

BUILTIN: dict[str, str] = {
    "new line": "\n",
    "new paragraph": "\n\n",
    "period": ".",
    "full stop": ".",
    "comma": ",",
    "question mark": "?",
    "exclamation mark": "!",
    "exclamation point": "!",
    "colon": ":",
    "semicolon": ";",
    "open parenthesis": "(",
    "close parenthesis": ")",
    "open bracket": "[",
    "close bracket": "]",
    "dash": "—",
    "ellipsis": "…",
}
"""The built-in table: spoken phrase -> text typed (plus :data:`SCRATCH`, an action)."""

CLOSING = frozenset(".,;:!?)]}…%")
OPENING = frozenset("([{¿¡")
SENTENCE_END = frozenset(".?!")
WHISPER_MARKS = ".,;:!?"
"""Marks Whisper puts after words; a closing command replaces them."""
_EDGE = "\"'“”‘’.,;:!?…()[]{}-—"
_WORD = re.compile(r"\S+")


def _norm(word: str) -> str:
    return word.strip(_EDGE).lower()


def _kind(output: str) -> str:
    if output and all(ch in CLOSING for ch in output):
        return "closing"
    if output and all(ch in OPENING for ch in output):
        return "opening"
    if output and output.isspace():
        return "layout"
    return "word"


@dataclass(frozen=True)
class Rendering:
    """What to type for an utterance: delete the last ``scratch`` typed utterances, then type ``text``."""

    text: str
    scratch: int = 0


class SpokenCommands:
    """The phrase table (built-in plus ``overrides``) and the rules in the module docstring."""

    def __init__(self, overrides: Mapping[str, str] | None = None, *, builtin: bool = True) -> None:
        table: dict[str, str | None] = dict(BUILTIN) if builtin else {}
        if builtin:
            table[SCRATCH] = None
        for phrase, output in (overrides or {}).items():
            key = " ".join(_norm(w) for w in phrase.split())
            if not key or any(not w for w in key.split()):
                raise ValueError(f"dictation.commands: {phrase!r} is not a phrase of words")
            if output == "":
                table.pop(key, None)
            else:
                table[key] = output
        self.table = table
        self._longest = max((len(p.split()) for p in table), default=0)

    def _match(self, words: list[str], i: int) -> tuple[int, str | None] | None:
        for n in range(min(self._longest, len(words) - i), 0, -1):
            phrase = " ".join(_norm(w) for w in words[i:i + n])
            if phrase in self.table:
                return n, self.table[phrase]
        return None

    def render(self, text: str) -> Rendering:
        """What to type for ``text`` (a final, or the stable prefix of a partial)."""
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        words = [text[a:b] for a, b in spans]
        out, scratch = "", 0
        space_before = False  # the next word needs a space (a command set it)
        capital = False
        last_cmd_end = 0  # out[:last_cmd_end] came from commands: not Whisper's to strip
        prev_end: int | None = None  # end of the previous plain word in ``text``
        i = 0
        while i < len(words):
            found = self._match(words, i)
            if found is None:
                word = words[i]
                if capital:
                    word = _capitalise(word)
                    capital = False
                if prev_end is not None:
                    out += text[prev_end:spans[i][0]]
                elif out and space_before:
                    out += " "
                out += word
                prev_end, space_before = spans[i][1], False
                i += 1
                continue
            n, output = found
            i += n
            prev_end = None
            if output is None:  # scratch that
                if out:
                    out = ""
                else:
                    scratch += 1
                last_cmd_end, space_before, capital = 0, False, False
                continue
            kind = _kind(output)
            if kind == "closing":
                head = out.rstrip(" ")
                keep = head[:last_cmd_end] if last_cmd_end <= len(head) else head
                out = keep + head[len(keep):].rstrip(WHISPER_MARKS) + output
                space_before = True
            elif kind == "opening":
                out += (" " if out and not out[-1].isspace() else "") + output
                space_before = False
            elif kind == "layout":
                out = out.rstrip(" ") + output
                space_before = False
            else:  # a word; one that starts a line or ends in a space brings its own spacing
                if output[0] == "\n":
                    out = out.rstrip(" ")
                elif out and not out[-1].isspace() and out[-1] not in OPENING and not output[0].isspace():
                    out += " "
                out += output
                space_before = not output[-1].isspace()
            last_cmd_end = len(out)
            capital = kind == "layout" or output[-1] in SENTENCE_END or output[0] == "\n"
        return Rendering(out, scratch)


def _capitalise(word: str) -> str:
    for k, ch in enumerate(word):
        if ch.isalpha():
            return word[:k] + ch.upper() + word[k + 1:]
    return word


__all__ = ["SCRATCH", "BUILTIN", "Rendering", "SpokenCommands"]
