"""The narrator interface and the offline template narrator.

A narrator turns a :class:`LinkRequest` (template name, context, word budget)
into the words of one link. The template narrator renders the Jinja2 template
itself; its ``pick`` filter chooses among phrasings deterministically for a seed
and never opens two links of a set the same way.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from segue.models import LinkKind
from segue.narration.templates import TemplateStore

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class LinkRequest:
    """Everything a narrator needs to write one link."""

    before_track: int
    kind: LinkKind
    template: str
    context: Mapping[str, Any]
    word_budget: int
    must_mention: tuple[str, ...]


class Narrator(Protocol):
    """One interface for every way of writing links (template, LLM backends)."""

    name: str

    def write(self, request: LinkRequest) -> str:
        """Return the text of the link for ``request``."""
        ...


def word_count(text: str) -> int:
    """Number of spoken words in ``text``."""
    return len(_WORD.findall(text))


def fit_budget(text: str, budget: int, must_mention: tuple[str, ...]) -> str:
    """Trim ``text`` at sentence boundaries to at most ``budget`` words.

    Sentences naming one of ``must_mention`` (the next title or artist) are always
    kept; the others are kept in order while they fit.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]
    needles = [m.casefold() for m in must_mention if m]
    required = [any(n in s.casefold() for n in needles) for s in sentences]
    used = sum(word_count(s) for s, r in zip(sentences, required, strict=True) if r)
    kept: list[str] = []
    for sentence, req in zip(sentences, required, strict=True):
        if req:
            kept.append(sentence)
        elif used + word_count(sentence) <= budget:
            kept.append(sentence)
            used += word_count(sentence)
    return " ".join(kept)


class TemplateNarrator:
    """Offline, deterministic narrator: the template's own words, varied by ``pick``."""

    name = "template"

    def __init__(self, store: TemplateStore, *, seed: int = 0) -> None:
        self.store = store
        self.seed = seed
        self._used_openers: set[str] = set()

    def reset(self) -> None:
        """Forget the openers used so far (call at the start of each set)."""
        self._used_openers.clear()

    def write(self, request: LinkRequest) -> str:
        """Render the request's template and fit it to the word budget."""
        calls = [0]

        def pick(block: str) -> str:
            options = [o.strip() for o in re.split(r"\n\s*\|", "\n" + block) if o.strip()]
            if not options:
                return ""
            rng = random.Random(f"{self.seed}:{request.before_track}:{calls[0]}")
            calls[0] += 1
            fresh = [o for o in options if _opener(o) not in self._used_openers]
            choice = rng.choice(fresh or options)
            self._used_openers.add(_opener(choice))
            return choice + "\n"

        text = self.store.render(request.template, request.context, filters={"pick": pick})
        return fit_budget(text, request.word_budget, request.must_mention)


def _opener(text: str) -> str:
    """The first two words, lower-cased: two links must not open with the same ones."""
    return " ".join(w.casefold() for w in _WORD.findall(text)[:2])
