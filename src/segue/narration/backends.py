"""The narrator registry: a name (``--narrator`` / ``SEGUE_NARRATOR``) to a narrator.

- ``template``: offline and deterministic; the default and every backend's fallback.
- ``openai``: any OpenAI-compatible chat-completions server (:mod:`.openai_backend`).
- ``local``: a small offline LLM, extra ``local`` (:mod:`.local_backend`).

The LLM backends are imported only when chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from segue.config import Settings, default_cache_dir
from segue.errors import NarrationError
from segue.narration.cache import LineCache
from segue.narration.narrator import GuardedNarrator, LineGenerator, Narrator, TemplateNarrator
from segue.narration.templates import TemplateStore


def default_line_cache() -> LineCache:
    """The cache of generated lines under segue's cache folder."""
    return LineCache(default_cache_dir() / "lines.sqlite")


def _openai(settings: Settings) -> LineGenerator:
    from segue.narration.openai_backend import OpenAIGenerator

    return OpenAIGenerator(
        base_url=settings.llm_base_url, model=settings.llm_model,
        timeout_s=settings.llm_timeout_s, retries=settings.llm_retries,
        backoff_s=settings.llm_backoff_s, temperature=settings.llm_temperature,
    )  # fmt: skip


def _local(settings: Settings) -> LineGenerator:
    from segue.narration.local_backend import LocalGenerator

    return LocalGenerator(model_path=settings.llm_model, threads=settings.llm_threads,
                          temperature=settings.llm_temperature)  # fmt: skip


#: The LLM backends by name (beside ``template``, which needs no generator); each
#: factory imports its backend only when it is chosen.
GENERATORS: dict[str, Callable[[Settings], LineGenerator]] = {"openai": _openai, "local": _local}
#: Every narrator name, in the order shown to users.
NARRATORS = ("template", *GENERATORS)


def make_generator(name: str, settings: Settings) -> LineGenerator:
    """The LLM backend ``name`` configured from ``settings``.

    Raises
    ------
    NarrationError
        For an unknown name (listing the valid ones) or a backend that cannot run
        here (missing key, server, package or model), with the reason.

    """
    factory = GENERATORS.get(name)
    if factory is None:
        raise NarrationError(f"unknown narrator {name!r} (valid: {', '.join(NARRATORS)})")
    return factory(settings)


def make_narrator(
    name: str,
    settings: Settings,
    *,
    store: TemplateStore | None = None,
    cache: LineCache | None = None,
) -> Narrator:
    """The narrator ``name``: the template narrator, or an LLM backend behind the guards.

    ``cache`` defaults to :func:`default_line_cache` for LLM backends.
    """
    store = store or TemplateStore()
    if name == "template":
        return TemplateNarrator(store, seed=settings.seed)
    generator = make_generator(name, settings)
    if cache is None:
        cache = default_line_cache()
    return GuardedNarrator(generator, store, settings, cache=cache)


def llm_settings(
    settings: Settings,
    narrator: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
) -> Settings:
    """``settings`` with ``--narrator``, ``--llm-base-url`` and ``--llm-model`` applied.

    ``None`` keeps the setting as it is.
    """
    changes = {k: v for k, v in (("narrator", narrator), ("llm_base_url", base_url),
                                 ("llm_model", model)) if v is not None}  # fmt: skip
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
