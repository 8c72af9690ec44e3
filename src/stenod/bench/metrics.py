"""Word error rate and latency statistics, with one documented text normalization.

Normalization: Whisper's English normalizer (transformers' `EnglishTextNormalizer`): lower-case,
punctuation and filler words removed, numbers written as digits ("twenty five" -> "25"),
contractions expanded, and British spellings mapped to American ones ("grey" -> "gray",
"colour" -> "color", "organised" -> "organized"). Whisper ships its spelling list with each hub
checkpoint; the bundled model has none, so :data:`SPELLINGS` is a compact table of our own over the
common word families (-our/-or, -ise/-ize, -yse/-yze, -tre/-ter, -ence/-ense, doubled l, and single
words) so that every run, with any model, normalizes the same way. Both reference and hypothesis go
through it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _families() -> dict[str, str]:
    """British -> American spellings, expanded from word stems over their usual inflections
    (over-generating forms that never occur is harmless: the table is only looked up)."""
    table: dict[str, str] = {}

    def add(stems: str, uk: str, us: str, suffixes: tuple[str, ...]) -> None:
        for stem in stems.split():
            for suffix in suffixes:
                table[stem + uk + suffix] = stem + us + suffix

    add("arb behavi cand clam col endeav fav flav harb hon hum lab neighb od parl rig rum sav "
        "splend tum val vap vig arm ferv savi",
        "our", "or", ("", "s", "ed", "ing", "ful", "fully", "able", "ably", "ite", "ites", "hood", "hoods", "less",
                      "y", "er", "ers", "ist", "ists"))
    ise = ("ise", "ised", "ises", "ising", "isation", "isations", "iser", "isers")
    for stem in ("organ real recogn apolog critic emphas minim maxim priorit summar categor author util final "
                 "standard optim custom memor visual special normal personal sympath familiar civil modern "
                 "character central capital fertil stabil steril synchron symbol harmon item legal local "
                 "margin mobil monopol neutral patron penal popular revolution scrutin subsid theor tyrann "
                 "vandal verbal victim colon agon antagon econom energ galvan hospital immun industrial "
                 "internal magnet mechan mesmer national ostrac pasteur plagiar polar rational sanit satir "
                 "scandal sensit serial social stigmat terror tranquil trivial urban vapor global digit "
                 "commercial computer container desensit democrat dramat human ideal immortal jeopard "
                 "lion material moral motor natural neutral random regular southern spiritual western "
                 "alphabet annual anonym accessor").split():
        for a, b in zip(ise, ("ize", "ized", "izes", "izing", "ization", "izations", "izer", "izers")):
            table[stem + a] = stem + b
    add("anal paral catal", "yse", "yze", ("", "s", "d", "r", "rs"))
    table.update({f"{s}ysing": f"{s}yzing" for s in ("anal", "paral", "catal")})
    add("cent theat met lit fib calib somb spect meag lust sab kilomet centimet millimet", "re", "er", ("", "s"))
    add("cent", "red", "ered", ("",))
    add("defe offe lice prete", "nce", "nse", ("", "s"))
    add("travel cancel label model fuel counsel level signal total channel dial duel equal funnel jewel "
        "marvel panel pedal quarrel shovel snorkel tunnel unravel rival spiral yodel grovel marshal pencil "
        "refuel", "l", "", ("ed", "ing", "er", "ers"))
    table.update({
        "grey": "gray", "greys": "grays", "greyer": "grayer", "greyish": "grayish", "aluminium": "aluminum",
        "tyre": "tire", "tyres": "tires", "kerb": "curb", "cheque": "check", "cheques": "checks",
        "programme": "program", "programmes": "programs", "plough": "plow", "mould": "mold", "mouldy": "moldy",
        "sceptic": "skeptic", "sceptical": "skeptical", "aeroplane": "airplane", "aeroplanes": "airplanes",
        "pyjamas": "pajamas", "manoeuvre": "maneuver", "manoeuvres": "maneuvers", "ageing": "aging",
        "judgement": "judgment", "judgements": "judgments", "acknowledgement": "acknowledgment",
        "enrol": "enroll", "enrolment": "enrollment", "fulfil": "fulfill", "fulfilment": "fulfillment",
        "instalment": "installment", "skilful": "skillful", "wilful": "willful", "practise": "practice",
        "practised": "practiced", "practises": "practices", "practising": "practicing",
        "jewellery": "jewelry", "marvellous": "marvelous", "cosy": "cozy", "doughnut": "donut",
        "doughnuts": "donuts", "draught": "draft", "gaol": "jail", "catalogue": "catalog",
        "catalogues": "catalogs", "analogue": "analog", "dialogue": "dialog", "dialogues": "dialogs",
        "anaemia": "anemia", "anaesthetic": "anesthetic", "encyclopaedia": "encyclopedia",
        "paediatric": "pediatric", "orthopaedic": "orthopedic", "oestrogen": "estrogen", "foetus": "fetus",
        "storey": "story", "storeys": "stories", "moustache": "mustache", "artefact": "artifact",
        "artefacts": "artifacts", "behaviour": "behavior", "licenced": "licensed", "speciality": "specialty",
    })
    return table


SPELLINGS: dict[str, str] = _families()
"""British -> American spellings applied word by word after the rest of the normalization."""


@lru_cache(maxsize=1)
def _normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(SPELLINGS)


def normalize(text: str) -> str:
    return " ".join(_normalizer()(text).split())


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference word count) after normalization."""
    r, h = normalize(ref).split(), normalize(hyp).split()
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1], len(r)


def wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER in percent: total word edits over total reference words."""
    if len(refs) != len(hyps):
        raise ValueError("refs and hyps differ in length")
    errors = words = 0
    for r, h in zip(refs, hyps):
        e, n = word_errors(r, h)
        errors, words = errors + e, words + n
    return 100.0 * errors / words if words else 0.0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of a list (NaN when empty)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    a = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}
