"""Loading prompt templates: Jinja2 files with front matter, strict about variables.

A template starts with its front matter inside a Jinja comment, so the file is
valid Jinja as it stands::

    {#---
    name: link
    description: A talk-up between two tracks.
    purpose: link
    talk: normal
    delivery: talkover
    target_words: 18
    ---#}

and holds up to four blocks, each rendered on its own with the context of
:mod:`segue.narration.context`:

- ``line``: the words the offline template narrator speaks: structures of
  parts in a ``compose`` filter (see :mod:`segue.narration.compose`), or
  ``|``-separated phrasings in a ``pick`` filter;
- ``system`` and ``prompt``: the system and user messages sent to a chat model;
- ``completion``: a few-shot completion prompt for a base model (the local backend).

A template without blocks is all ``line``. Files whose name starts with ``_`` are
partials for ``{% include %}`` and not templates of their own. Templates are
re-read when their file changes, so a running ``serve`` or a long ``render``
picks up edits without a restart.

Variants: :meth:`TemplateStore.resolve` picks the first that exists of
``KIND.TALK.DELIVERY``, ``KIND.DELIVERY``, ``KIND.TALK`` and ``KIND``, all of
them first with a ``.LANGUAGE`` suffix for a listener language other than
English: the language matters most (``link.de`` before ``link.brief`` for a
German listener), then the delivery (a link with no intro to talk over needs
its own phrasing whatever the talk level), then the talk level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from segue.errors import NarrationError
from segue.narration.compose import PartBook, PartRequest, ShowMemory, compose

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A\s*\{#---\s*\n(.*?)\n---#\}\s*\n?", re.DOTALL)
_OPTION_SPLIT = re.compile(r"\n\s*\|")

#: The blocks a template may define.
BLOCKS = ("line", "system", "prompt", "completion")


def default_prompts_dir() -> Path:
    """``$SEGUE_PROMPTS_DIR``, else ``prompts/`` of the source checkout, else the cwd's."""
    env = os.environ.get("SEGUE_PROMPTS_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[3] / "prompts"
    return checkout if checkout.is_dir() else Path.cwd() / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    """A template's front matter and its Jinja2 source (front matter included, as a comment)."""

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

    @property
    def purpose(self) -> str:
        """``opening``, ``link`` or ``closing`` (front matter, else the name's first part)."""
        return self.meta.get("purpose") or self.name.split(".")[0]

    @property
    def description(self) -> str:
        """One line saying what the template is for."""
        return self.meta.get("description", "")

    @property
    def digest(self) -> str:
        """A short hash of the source: changes whenever the file is edited."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RenderedPrompt:
    """Every block of one template rendered for one context (empty when absent)."""

    template: str
    line: str
    system: str
    prompt: str
    completion: str


def parse_template(path: Path) -> PromptTemplate:
    """Read ``path`` and split out its front matter."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NarrationError(f"{path}: cannot read template ({exc})") from exc
    meta: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                meta[key.strip()] = value.strip()
    name = meta.get("name", path.stem)
    return PromptTemplate(name=name, path=path, meta=meta, source=text)


def split_options(block: str) -> list[str]:
    """The ``|``-separated phrasings of a ``pick`` block, stripped, empty ones dropped."""
    return [o.strip() for o in _OPTION_SPLIT.split("\n" + block) if o.strip()]


class Picker:
    """Chooses one phrasing of a ``pick`` block and composes ``compose`` blocks.

    The default takes the first phrasing and composes with a fresh memory, as
    if the line were the first of a show (previews of what a template renders).
    """

    def choose(self, options: list[str]) -> str:
        """The phrasing to use among ``options`` (never empty)."""
        return options[0]

    def part_request(self, context: Mapping[str, Any]) -> PartRequest:
        """What :func:`~segue.narration.compose.compose` needs from this context."""
        from segue.narration.context import slots_from_context

        return PartRequest(slots=slots_from_context(context), kinds=context,
                           word_budget=int(context.get("word_budget") or 10**6))  # fmt: skip

    def compose(self, structures: list[list[str]], book: PartBook,
                context: Mapping[str, Any]) -> str:  # fmt: skip
        """The composed line for ``context`` (``""`` when no structure can be filled)."""
        line = compose(structures, book, self.part_request(context), ShowMemory())
        return line.text if line else ""


@jinja2.pass_context
def _pick_filter(ctx: jinja2.runtime.Context, block: str) -> str:
    options = split_options(block)
    if not options:
        return ""
    picker = ctx.get("_picker")
    chosen = picker.choose(options) if isinstance(picker, Picker) else options[0]
    return chosen + "\n"


def _quote(value: object) -> str:
    """A value as a double-quoted string literal (JSON), so tags read as data in a prompt."""
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


class TemplateStore:
    """The templates of one prompts folder, re-read when a file changes on disk.

    Thread-safe for reading: compiled templates are replaced, never mutated.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_prompts_dir()
        if not self.directory.is_dir():
            raise NarrationError(f"{self.directory}: prompts folder not found")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain spoken text, never HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        self.env.filters["pick"] = _pick_filter
        self.env.filters["quote"] = _quote
        store = self

        @jinja2.pass_context
        def compose_filter(ctx: jinja2.runtime.Context, block: str) -> str:
            return store._compose_filter(ctx, block)

        self.env.filters["compose"] = compose_filter
        self._cache: dict[Path, tuple[float, int, PromptTemplate, jinja2.Template]] = {}
        self._books: dict[str, PartBook] = {}

    def parts(self, language: str = "en") -> PartBook:
        """The parts of ``language`` (``parts/LANG.toml``; English when it has none).

        Raises
        ------
        NarrationError
            When not even ``parts/en.toml`` exists.

        """
        for lang in (language or "en", "en"):
            path = self.directory / "parts" / f"{lang}.toml"
            if path.is_file():
                if lang not in self._books:
                    self._books[lang] = PartBook(path)
                return self._books[lang]
        raise NarrationError(f"{self.directory / 'parts' / 'en.toml'}: parts file not found")

    def _compose_filter(self, ctx: jinja2.runtime.Context, block: str) -> str:
        structures = [o.split() for o in split_options(block)]
        picker = ctx.get("_picker")
        language = str((ctx.get("listener") or {}).get("language") or "en")
        variables = {k: ctx.get(k) for k in ("kind", "next", "prev", "listener", "set",
                                             "heard", "total", "station", "word_budget",
                                             "change", "reason_kinds", "personal")}  # fmt: skip
        chosen = picker if isinstance(picker, Picker) else Picker()
        return chosen.compose(structures, self.parts(language), variables) + "\n"

    def names(self) -> list[str]:
        """Names (file stems) of every template in the folder, partials excluded."""
        return sorted(p.stem for p in self.directory.glob("*.j2") if not p.name.startswith("_"))

    def locate(self, name: str) -> Path:
        """The file of template ``name``: a name in the folder, or a path to a ``.j2`` file."""
        if name.endswith(".j2") or os.sep in name or "/" in name:
            path = Path(name)
            if not path.is_file():
                raise NarrationError(f"template file {name!r} not found")
            return path
        path = self.directory / f"{name}.j2"
        if not path.is_file() or name.startswith("_"):
            known = ", ".join(self.names()) or "none"
            raise NarrationError(
                f"template {name!r} not found in {self.directory} (known: {known})"
            )
        return path

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a template of this folder."""
        return not name.startswith("_") and (self.directory / f"{name}.j2").is_file()

    def resolve(self, kind: str, talk_level: str, delivery: str, language: str = "en") -> str:
        """The most specific template for a link of ``kind`` (see the module docstring).

        Raises
        ------
        NarrationError
            When not even the plain ``KIND`` template exists.

        """
        plain = [f"{kind}.{talk_level}.{delivery}", f"{kind}.{delivery}",
                 f"{kind}.{talk_level}", kind]  # fmt: skip
        # The listener's language matters more than the talk level or the delivery.
        localised = [f"{c}.{language}" for c in plain] if language and language != "en" else []
        candidates = localised + plain
        for c in candidates:
            if self.exists(c):
                return c
        self.locate(kind)  # raises, listing the known templates
        return kind  # pragma: no cover

    def _load(self, name: str) -> tuple[PromptTemplate, jinja2.Template]:
        path = self.locate(name)
        try:
            st = path.stat()
        except OSError as exc:
            raise NarrationError(f"template {name!r}: {exc}") from exc
        cached = self._cache.get(path)
        if cached is not None and cached[0] == st.st_mtime and cached[1] == st.st_size:
            return cached[2], cached[3]
        parsed = parse_template(path)
        try:
            code = self.env.compile(parsed.source, name=parsed.name, filename=str(path))
            compiled = self.env.template_class.from_code(self.env, code,
                                                           self.env.make_globals(None))
        except jinja2.TemplateSyntaxError as exc:
            raise NarrationError(
                f"template {name!r} ({path}, line {exc.lineno}): {exc.message}"
            ) from exc
        self._cache[path] = (st.st_mtime, st.st_size, parsed, compiled)
        log.debug("loaded template %s from %s", parsed.name, path)
        return parsed, compiled

    def get(self, name: str) -> PromptTemplate:
        """The template ``name``; edits on disk are picked up on the next call."""
        return self._load(name)[0]

    def render_block(
        self, name: str, block: str, context: Mapping[str, Any], picker: Picker | None = None
    ) -> str | None:
        """Render one block of template ``name``; ``None`` when the template lacks it.

        A template without any block renders whole as its ``line``. Unknown
        variables are errors (``StrictUndefined``) whose message names the
        template and the variable.
        """
        template, compiled = self._load(name)
        variables = {**context, "_picker": picker or Picker()}
        try:
            try:
                if not compiled.blocks:
                    return compiled.render(**variables) if block == "line" else None
                fn = compiled.blocks.get(block)
                if fn is None:
                    return None
                return "".join(fn(compiled.new_context(variables)))
            except Exception:  # re-raised with the template's own file and line in the trace
                self.env.handle_exception(template.source)
        except jinja2.UndefinedError as exc:
            raise NarrationError(f"template {name!r} ({_where(template, exc)}): "
                                 f"{exc.message}") from exc  # fmt: skip
        except (jinja2.TemplateError, NarrationError) as exc:
            raise NarrationError(f"template {name!r} ({_where(template, exc)}): {exc}") from exc

    def render(
        self, name: str, context: Mapping[str, Any], picker: Picker | None = None
    ) -> str:
        """The ``line`` block of template ``name`` rendered with ``context`` (the spoken words)."""
        return self.render_block(name, "line", context, picker) or ""

    def render_all(
        self, name: str, context: Mapping[str, Any], picker: Picker | None = None
    ) -> RenderedPrompt:
        """Every block of template ``name``, tidied: blank lines collapsed, ends stripped."""
        parts = {
            b: _tidy(self.render_block(name, b, context, picker if b == "line" else None) or "")
            for b in BLOCKS
        }
        return RenderedPrompt(template=self.get(name).name, **parts)


def _where(template: PromptTemplate, exc: BaseException) -> str:
    """``PATH, line N``: the innermost template line of ``exc``'s traceback (else just PATH).

    Jinja rewrites tracebacks so that template frames carry the template file and
    line; an error in an included partial names the partial.
    """
    where = f"{template.path}"
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _tidy(text: str) -> str:
    lines = [ln.rstrip() for ln in text.strip().splitlines()]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip()
