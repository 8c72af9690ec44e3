"""Spoken punctuation and commands: the rules of stenod.clients.spoken, with Whisper's own
punctuation and capitals around the phrases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stenod.clients.spoken import BUILTIN, SCRATCH, Rendering, SpokenCommands

S = SpokenCommands()


@pytest.mark.parametrize("said, typed", [
    ("Hello, new line. World.", "Hello,\nWorld."),
    ("Hello new line world", "Hello\nWorld"),
    ("First part. New paragraph. Second part.", "First part.\n\nSecond part."),
    ("Is that right? Question mark.", "Is that right?"),
    ("Is that right question mark", "Is that right?"),
    ("Hello period how are you", "Hello. How are you"),
    ("Hello, period. How are you?", "Hello. How are you?"),
    ("Hello comma world", "Hello, world"),
    ("Wait. Exclamation mark.", "Wait!"),
    ("Items colon apples semicolon pears", "Items: apples; pears"),
    ("See open parenthesis page two close parenthesis now.", "See (page two) now."),
    ("One dash two", "One — two"),
    ("The end. New line.", "The end.\n"),
    ("Comma", ","),
    ("period period", ".."),
])
def test_rules(said, typed):
    assert S.render(said) == Rendering(typed)


def test_text_without_phrases_is_kept_exactly():
    for text in ("Hello, world.", "Two  spaces stay", "Café über — naïve 🎉", "Periodic commas aren't commands."):
        assert S.render(text) == Rendering(text)


def test_scratch_that():
    assert S.render("Scratch that.") == Rendering("", scratch=1)
    assert S.render("scratch that, scratch that") == Rendering("", scratch=2)
    assert S.render("Send it now. Scratch that. Keep it.") == Rendering("Keep it.")


def test_config_table_adds_overrides_and_removes():
    s = SpokenCommands({"smiley face": "🙂", "Period": "", "full stop": "!", "scratch that": "",
                        "new item": "\n- "})
    assert s.render("Nice smiley face, thanks") == Rendering("Nice 🙂 thanks")
    assert s.render("List: new item eggs, new item. Milk.") == Rendering("List:\n- Eggs,\n- Milk.")
    assert s.render("A period of time full stop") == Rendering("A period of time!")
    assert s.render("scratch that") == Rendering("scratch that")
    with pytest.raises(ValueError, match="dictation.commands"):
        SpokenCommands({"...": "x"})


def test_no_builtin_table():
    assert SpokenCommands(builtin=False).render("Hello comma world") == Rendering("Hello comma world")


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu")), min_size=1, max_size=8)
plain = st.lists(words.filter(lambda w: w.lower() not in {p.split()[0] for p in [*BUILTIN, SCRATCH]}),
                 min_size=1, max_size=12)


@given(plain, st.sampled_from([", ", ". ", " ", "? "]))
def test_property_plain_words_pass_through(ws, sep):
    text = sep.join(ws)
    assert S.render(text) == Rendering(text)


@given(plain, plain, st.sampled_from(sorted(BUILTIN)), st.sampled_from(["", ",", "."]))
def test_property_a_phrase_leaves_no_trace_of_itself(before, after, phrase, mark):
    text = f"{' '.join(before)}{mark} {phrase}{mark} {' '.join(after)}"
    out = S.render(text).text
    assert BUILTIN[phrase] in out
    assert phrase not in out.lower()
    assert out.startswith(before[0]) and out.rstrip(".,").endswith(after[-1][1:])
