"""Narration: the words of each spoken link, from Jinja2 templates in ``prompts/``."""

from segue.narration.script import write_script

__all__ = ["write_script"]
