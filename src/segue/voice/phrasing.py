"""Speech paced for radio: a line split into phrases, each spoken with the pause it needs.

A text-to-speech engine reads a link as one paragraph: sentences run into each
other, and a title with a question mark or an exclamation mark inside a
sentence ("Here's Help! by The Beatles") is read as the end of a sentence. So
before synthesis a line is cut into *phrases*, one per sentence, where a
sentence ends only at ``.``, ``!``, ``?`` or ``…`` followed by a capital (not
inside a title, not after ``Mr.``); inside a phrase, sentence punctuation that
belongs to a title is dropped so the engine reads straight through it. Each
phrase is synthesized alone and trimmed, and the phrases are joined with a
pause: a longer one between sentences (between a back-announce and the
announce), and the engine's own pause at each comma.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

#: Silence between two sentences of a link (a back-announce and the announce), seconds.
SENTENCE_PAUSE_S = 0.4
#: Silence after a phrase that ends with a colon or a dash (a title is coming).
COLON_PAUSE_S = 0.25

_ABBREVIATIONS = frozenset([
    "mr", "mrs", "ms", "dr", "st", "vs", "jr", "sr", "no", "vol", "feat", "ft"
])
_END = re.compile(r"([.!?…]+)[\"”’)]?\s+(?=[\"“‘(]?[A-Z0-9À-ÖØ-Þ])")
_INNER = re.compile(r"(?<=\w)[!?]+(?=\s+[a-z])|(?<=\w)[!?]+(?=,)")


@dataclass(frozen=True)
class Phrase:
    """One phrase to synthesize on its own, and the silence that follows it."""

    text: str
    pause_s: float


def _splits(text: str) -> list[int]:
    cuts: list[int] = []
    for m in _END.finditer(text):
        before = text[: m.start()].split()
        last = before[-1].rstrip(".").casefold() if before else ""
        if m.group(1) == "." and last in _ABBREVIATIONS:
            continue
        cuts.append(m.end())
    return cuts


def speakable(phrase: str) -> str:
    """``phrase`` as the engine should read it: title punctuation mid-sentence dropped."""
    text = _INNER.sub("", phrase)
    text = text.replace("&", " and ")
    return re.sub(r"\s+", " ", text).strip()


def phrases(text: str) -> list[Phrase]:
    """``text`` as phrases with their pauses (the last phrase has none)."""
    text = " ".join(text.split())
    if not text:
        return []
    cuts = [0, *_splits(text), len(text)]
    parts = [text[a:b].strip() for a, b in itertools.pairwise(cuts)]
    parts = [p for p in parts if p]
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        pause = 0.0 if last else (COLON_PAUSE_S if part.endswith((":", "—")) else SENTENCE_PAUSE_S)
        out.append(Phrase(text=speakable(part), pause_s=pause))
    return out
