"""LocalAgreement-2 stabilizer: the commit rule, alignment, monotonic stable prefix."""

from __future__ import annotations

import random

import pytest

from stenod.daemon.stabilize import Stabilizer, normalize_word


def feed(*hyps: str) -> list[tuple[str, int]]:
    s = Stabilizer()
    return [s.update(h) for h in hyps]


def test_first_hypothesis_commits_nothing():
    s = Stabilizer()
    assert s.update("hello world") == ("hello world", 0)
    assert s.committed_words == ()


def test_two_agreeing_hypotheses_commit_their_common_prefix():
    assert feed("hello", "hello world", "hello world how", "hello world how are you") == [
        ("hello", 0),
        ("hello world", 5),
        ("hello world how", 11),
        ("hello world how are you", 15),
    ]


def test_disagreeing_tail_is_not_committed():
    s = Stabilizer()
    s.update("the quick bro")
    assert s.update("the quick brown fox") == ("the quick brown fox", 9)
    assert s.committed_words == ("the", "quick")
    assert s.update("the quick brown fox jumps") == ("the quick brown fox jumps", 19)


def test_committed_words_survive_a_disagreeing_hypothesis():
    s = Stabilizer()
    s.update("I scream for")
    s.update("I scream for ice")
    assert s.committed_words == ("I", "scream", "for")
    # Whisper changes its mind about the committed words: they stay, the tail follows them.
    text, stable = s.update("Ice cream for ice cream")
    assert text == "I scream for ice cream" and stable == len("I scream for ice")
    assert s.committed_words == ("I", "scream", "for", "ice")


def test_alignment_handles_merged_and_split_words():
    s = Stabilizer()
    s.update("we want to go home now")
    s.update("we want to go there")
    assert s.committed_words == ("we", "want", "to", "go")
    # "want to" merged into "wanna": the tail still starts after the word matching "go".
    assert s.update("we wanna go home today") == ("we want to go home today", len("we want to go"))
    # A word split in two: "cannot" -> "can not"
    s2 = Stabilizer()
    s2.update("I cannot say it")
    s2.update("I cannot say that")
    assert s2.update("I can not say that again") == ("I cannot say that again", len("I cannot say that"))


def test_realignment_fallback_is_positional():
    s = Stabilizer()
    s.update("one two three")
    s.update("one two three four")
    assert s.update("completely different words here and more") == ("one two three here and more", 13)


def test_agreement_ignores_case_and_punctuation_but_keeps_committed_spelling():
    s = Stabilizer()
    s.update("Hello, World")
    text, stable = s.update("hello world. How")
    assert s.committed_words == ("hello", "world.")  # the newer spelling when committing
    assert (text, stable) == ("hello world. How", 12)
    text, stable = s.update("Hello, world! how are")
    assert text == "hello world. how are"  # committed spelling frozen; "how" committed as spelled now
    assert s.committed_words == ("hello", "world.", "how")


def test_uncommitted_words_take_the_newest_spelling():
    s = Stabilizer()
    s.update("a b")
    s.update("a c")
    assert s.update("a C d")[0] == "a C d"


def test_shorter_hypothesis_keeps_committed_text():
    s = Stabilizer()
    s.update("good morning everyone")
    s.update("good morning everyone here")
    assert s.update("") == ("good morning everyone", len("good morning everyone"))
    assert s.update("good") == ("good morning everyone", len("good morning everyone"))


def test_whitespace_is_normalised():
    assert feed("  hi\tthere ", "hi  there\nfriend") == [("hi there", 0), ("hi there friend", 8)]


def test_reset_forgets_the_utterance():
    s = Stabilizer()
    s.update("so it begins")
    s.update("So it begins now")
    assert s.committed_words == ("So", "it", "begins")  # spelled as in the hypothesis that agreed
    s.reset()
    assert s.committed_words == () and s.update("x") == ("x", 0)


def test_normalize_word():
    assert normalize_word("Hello,") == "hello"
    assert normalize_word("“Quote”") == "quote"
    assert normalize_word("don't") == "don't"
    assert normalize_word("...") == ""


VOCAB = ["a", "the", "cat", "Cat,", "sat", "on", "mat.", "mat", "and", "then", "ran", "away", "A"]


@pytest.mark.parametrize("seed", range(30))
def test_random_hypotheses_never_change_the_stable_prefix(seed):
    rng = random.Random(seed)
    s = Stabilizer()
    truth = [rng.choice(VOCAB) for _ in range(25)]
    prev_text, prev_stable = "", 0
    prev_committed: tuple[str, ...] = ()
    for step in range(40):
        n = min(len(truth), step // 2 + rng.randint(0, 3))
        hyp = list(truth[:n])
        for _ in range(rng.randint(0, 3)):  # noise: substitutions, insertions, deletions
            if not hyp:
                break
            i = rng.randrange(len(hyp))
            op = rng.choice(["sub", "ins", "del"])
            if op == "sub":
                hyp[i] = rng.choice(VOCAB)
            elif op == "ins":
                hyp.insert(i, rng.choice(VOCAB))
            else:
                del hyp[i]
        text, stable = s.update(" ".join(hyp))
        assert 0 <= stable <= len(text)
        assert stable >= prev_stable
        assert text[:prev_stable] == prev_text[:prev_stable]
        assert text[:stable] == " ".join(s.committed_words)
        assert s.committed_words[: len(prev_committed)] == prev_committed
        assert stable == len(text) or text[stable] == " " or stable == 0
        prev_text, prev_stable, prev_committed = text, stable, s.committed_words
