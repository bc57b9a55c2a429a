"""Loading prompt templates: Jinja2 files with front matter, strict about variables.

A template starts with its front matter inside a Jinja comment, so the file is
valid Jinja as it stands::

    {#---
    name: link
    description: A talk-up between two tracks.
    purpose: link
    target_words: 18
    ---#}
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from segue.errors import NarrationError

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A\s*\{#---\s*\n(.*?)\n---#\}\s*\n?", re.DOTALL)


def default_prompts_dir() -> Path:
    """``$SEGUE_PROMPTS_DIR``, else ``prompts/`` of the source checkout, else the cwd's."""
    env = os.environ.get("SEGUE_PROMPTS_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[3] / "prompts"
    return checkout if checkout.is_dir() else Path.cwd() / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    """A template's front matter and its Jinja2 source (front matter removed)."""

    name: str
    path: Path
    meta: Mapping[str, str]
    source: str

    @property
    def target_words(self) -> int:
        """The template's target length in words (front matter ``target_words``)."""
        try:
            return int(self.meta.get("target_words", "20"))
        except ValueError:
            return 20


def parse_template(path: Path) -> PromptTemplate:
    """Read ``path`` and split its front matter from its body."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NarrationError(f"{path}: cannot read template ({exc})") from exc
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                meta[key.strip()] = value.strip()
        text = text[match.end() :]
    name = meta.get("name", path.stem)
    return PromptTemplate(name=name, path=path, meta=meta, source=text)


class TemplateStore:
    """The templates of one prompts folder, re-read when a file changes on disk."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_prompts_dir()
        if not self.directory.is_dir():
            raise NarrationError(f"{self.directory}: prompts folder not found")
        self._cache: dict[str, tuple[float, PromptTemplate]] = {}

    def names(self) -> list[str]:
        """Names (file stems) of every template in the folder."""
        return sorted(p.stem for p in self.directory.glob("*.j2"))

    def get(self, name: str) -> PromptTemplate:
        """The template ``name``; edits on disk are picked up on the next call."""
        path = self.directory / f"{name}.j2"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError as exc:
            known = ", ".join(self.names()) or "none"
            raise NarrationError(f"template {name!r} not found in {self.directory} "
                                 f"(known: {known})") from exc
        cached = self._cache.get(name)
        if cached is None or cached[0] != mtime:
            cached = (mtime, parse_template(path))
            self._cache[name] = cached
        return cached[1]

    def render(
        self,
        name: str,
        context: Mapping[str, Any],
        filters: Mapping[str, Callable[..., Any]] | None = None,
    ) -> str:
        """Render template ``name`` with ``context``.

        Unknown variables are errors (``StrictUndefined``) whose message names the
        template and the variable.
        """
        template = self.get(name)
        env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain spoken text, never HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(filters or {})
        try:
            return env.from_string(template.source).render(**context)
        except jinja2.UndefinedError as exc:
            raise NarrationError(f"template {name!r} ({template.path}): {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise NarrationError(f"template {name!r} ({template.path}): {exc}") from exc
