"""Narration: the words of each spoken link, from Jinja2 templates in ``prompts/``.

The template narrator writes links offline; LLM backends (``openai``, ``local``)
write them behind guards, with the template narrator as the fallback.
"""

from segue.narration.backends import NARRATORS, make_narrator
from segue.narration.script import write_script

__all__ = ["NARRATORS", "make_narrator", "write_script"]
