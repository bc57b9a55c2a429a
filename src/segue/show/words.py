"""What the engine needs from the words stage: the shape of one show's narration.

The engine asks a :class:`Script` (the narration stage's
:class:`~segue.narration.showscript.ShowScript` is the implementation) whether the
talk plan wants a link in a gap (in show order, as gaps come), has it *prepare*
the words in a background worker (an LLM call may be waited on there, bounded by
its deadline and circuit breaker) and *commits* every prepared draft strictly in
show order, where what depends on order (variety against what was said, the name
rule) is settled and the line is remembered.
"""

from __future__ import annotations

from typing import Protocol

from segue.models import Link, TalkLevel
from segue.narration.script import Gap
from segue.narration.showscript import Draft


class Script(Protocol):
    """One show's narration, a gap at a time."""

    def wants_link(self, gap: Gap) -> bool:
        """Whether the talk plan puts a link in ``gap`` (asked in show order)."""
        ...

    def prepare(self, gap: Gap) -> Draft:
        """The words for ``gap``, from whatever was said so far (thread-safe)."""
        ...

    def commit(self, draft: Draft) -> Link | None:
        """Settle ``draft`` in show order and remember it; ``None`` when nothing is said."""
        ...

    def set_talk_level(self, level: TalkLevel) -> None:
        """Talk more or less from the next gap on."""
        ...
