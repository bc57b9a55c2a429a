"""Narration: the words of each spoken link, from Jinja2 templates in ``prompts/``.

The template narrator composes links offline from parts; LLM backends (``openai``,
``local``) write them behind circuit breakers and guards, with the template
narrator as the fallback. A :class:`ShowScript` is one show's narration (the talk
plan, its memory of what was said, the name rule) for the live engine.
"""

from segue.narration.backends import NARRATORS, make_narrator
from segue.narration.script import Gap, write_script
from segue.narration.showscript import Draft, ShowScript

__all__ = ["NARRATORS", "Draft", "Gap", "ShowScript", "make_narrator", "write_script"]
