"""Spoken-text arithmetic: words, sentences, openers and trimming to a word budget."""

from __future__ import annotations

import re
import unicodedata

#: Spoken words per second a talk-over is budgeted at (radio practice: about 2.5).
#: The same figure as ``segue.transition.cues.WORDS_PER_SECOND`` (a test keeps them
#: equal); kept here so narration imports nothing of the transition stage.
WORDS_PER_SECOND = 2.5

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"[\w'’-]+")


def word_count(text: str) -> int:
    """Number of spoken words in ``text``."""
    return len(_WORD.findall(text))


def words(text: str) -> list[str]:
    """The words of ``text``, in order, as written."""
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """``text`` split after ``.``, ``!``, ``?`` and ``…``, whitespace collapsed."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def fold(text: str) -> str:
    """``text`` for comparisons: NFKC, case-folded, curly apostrophes straightened."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def opener(text: str) -> str:
    """The first two words, folded: two links of a set must not open with the same ones."""
    return " ".join(fold(w) for w in words(text)[:2])


def mentions(text: str, name: str) -> bool:
    """Whether ``name`` appears in ``text`` as whole words (case and apostrophes ignored)."""
    if not name.strip():
        return False
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(p) for p in fold(name).split()) + r"(?!\w)"
    return re.search(pattern, fold(text)) is not None


def fit_budget(text: str, budget: int, must_mention: tuple[str, ...]) -> str:
    """Trim ``text`` at sentence boundaries to at most ``budget`` words.

    Sentences naming one of ``must_mention`` (the next title or artist) are always
    kept; the others are kept in order while they fit.
    """
    parts = sentences(text)
    needles = [m for m in must_mention if m]
    required = [any(mentions(s, n) for n in needles) for s in parts]
    used = sum(word_count(s) for s, r in zip(parts, required, strict=True) if r)
    kept: list[str] = []
    for sentence, req in zip(parts, required, strict=True):
        if req:
            kept.append(sentence)
        elif used + word_count(sentence) <= budget:
            kept.append(sentence)
            used += word_count(sentence)
    return " ".join(kept)
