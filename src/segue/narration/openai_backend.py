"""The ``openai`` backend: any OpenAI-compatible chat-completions server via the SDK.

The server and key come from ``--llm-base-url`` / ``SEGUE_LLM_BASE_URL`` or the
standard ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``; a self-hosted server given by
URL needs no key. Every request goes through the server's circuit breaker
(:mod:`segue.circuit`, named ``llm:openai@URL``): it is asked before every
attempt, retries included, and told of every success, error and timeout, so a
dead server is not asked again for a cool-down. Each request has a timeout; a
request that timed out is not retried for the same line (the server is slow or
dead, asking again only doubles the wait); rate limits (429), server errors
(5xx) and lost connections are retried with exponential backoff (honouring
``Retry-After``) until the retries or the line's deadline run out.
Only the rendered template is sent: the template decides which facts leave the
machine (never file paths).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import openai

from segue.circuit import CircuitBreaker, breaker
from segue.errors import NarrationError
from segue.narration.narrator import Generation
from segue.narration.templates import RenderedPrompt

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"


class OpenAIGenerator:
    """Chat completions through the ``openai`` SDK, with our own retry loop and deadline."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str = "",
        api_key: str = "",
        model: str = "",
        timeout_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        temperature: float = 0.7,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL", "")
        api_key = api_key or os.environ.get("OPENAI_API_KEY", "")
        if not api_key:
            if not base_url:
                raise NarrationError(
                    "openai narrator: set OPENAI_API_KEY, or give a self-hosted server "
                    "with --llm-base-url / OPENAI_BASE_URL"
                )
            api_key = "not-needed"  # self-hosted servers usually ignore the key
        self.base_url = base_url
        self._model = model or DEFAULT_MODEL
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.temperature = temperature
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key, timeout=timeout_s, max_retries=0
        )
        self._breaker = breaker(f"llm:openai@{base_url}" if base_url else "llm:openai")
        # After a failure, a new request waits for those still in flight: if they fail
        # too the circuit opens and it is never sent (two lines prepared at once against
        # a dead server cost one timeout, not two in a row).
        self._flight = threading.Condition()
        self._in_flight = 0

    def _take_off(self, deadline: float) -> bool:
        """Wait, while the server is suspect, for the requests in flight; ``False`` if late."""
        with self._flight:
            while self._in_flight and self._breaker.status().failures > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._flight.wait(remaining)
            self._in_flight += 1
            return True

    def _land(self) -> None:
        with self._flight:
            self._in_flight -= 1
            self._flight.notify_all()

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker of this server (process-wide, by URL)."""
        return self._breaker

    @property
    def model(self) -> str:
        """The model name sent with each request."""
        return self._model

    def _where(self) -> str:
        return self.base_url or "the OpenAI API"

    def generate(
        self, prompt: RenderedPrompt, *, max_tokens: int, deadline: float, seed: int
    ) -> Generation:
        """Ask for one line; raise :class:`NarrationError` with the reason when none comes.

        Raises
        ------
        NarrationError
            ``deadline missed``, ``timeout``, ``rate limited``, ``server error``,
            ``malformed response``, ``empty answer``, or the server's refusal.

        """
        if not prompt.prompt:
            raise NarrationError(f"template {prompt.template!r} has no prompt block")
        messages: list[dict[str, str]] = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": prompt.prompt})
        last = "no attempt"
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise NarrationError(f"deadline missed ({last})")
            if not self._take_off(deadline):
                raise NarrationError(f"deadline missed (waiting on {self._where()})")
            try:
                outcome = self._attempt(messages, max_tokens, seed, deadline, attempt)
            finally:
                self._land()
            if isinstance(outcome, Generation):
                return outcome
            last, wait_s = outcome
            if attempt == self.retries:
                break
            remaining = deadline - time.monotonic()
            if wait_s >= remaining:
                raise NarrationError(f"deadline missed ({last})")
            log.info("openai: %s; retrying in %.2f s", last, wait_s)
            time.sleep(wait_s)
        raise NarrationError(f"{last}, {self.retries + 1} attempt(s)")

    def _attempt(
        self, messages: list[dict[str, str]], max_tokens: int, seed: int, deadline: float,
        attempt: int,
    ) -> Generation | tuple[str, float]:  # fmt: skip
        """One request through the breaker: the answer, or (what failed, wait before retry).

        Raises
        ------
        NarrationError
            For an open circuit, a timeout, a refusal or a malformed answer: not retried.

        """
        if not self._breaker.allow():
            raise NarrationError(self._breaker.open_reason())
        remaining = max(0.05, deadline - time.monotonic())
        wait_s = self.backoff_s * 2**attempt
        asked = time.monotonic()
        try:
            response = self._client.chat.completions.create(
                model=self._model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=seed,
                n=1,
                timeout=min(self.timeout_s, remaining),
            )
        except openai.APITimeoutError as exc:
            waited = time.monotonic() - asked
            last = f"timeout after {waited:.1f} s"
            self._breaker.failure(last, waited_s=waited)
            raise NarrationError(last) from exc  # never retried: it would double the wait
        except openai.RateLimitError as exc:
            last = "rate limited (429)"
            wait_s = max(wait_s, _retry_after_s(exc.response.headers))
        except openai.InternalServerError as exc:
            last = f"server error ({exc.status_code})"
        except openai.APIConnectionError:
            last = f"cannot connect to {self._where()}"
        except openai.APIStatusError as exc:
            why = f"{self._where()} refused the request ({exc.status_code}): {_brief(exc)}"
            self._breaker.failure(why, waited_s=time.monotonic() - asked)
            raise NarrationError(why) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            why = f"malformed response from {self._where()}"
            self._breaker.failure(why, waited_s=time.monotonic() - asked)
            raise NarrationError(why) from exc
        else:
            self._breaker.success()
            return _parse(response)
        self._breaker.failure(last, waited_s=time.monotonic() - asked)
        return last, wait_s


def _parse(response: Any) -> Generation:
    """The first choice's text; malformed or empty answers raise NarrationError."""
    try:
        choice = response.choices[0]
        content = choice.message.content
        finish = choice.finish_reason
    except (AttributeError, IndexError, TypeError) as exc:
        raise NarrationError("malformed response (no choices)") from exc
    if not isinstance(content, str):
        if content is None:
            raise NarrationError("empty answer")
        raise NarrationError("malformed response (content is not text)")
    if not content.strip():
        raise NarrationError("empty answer")
    return Generation(text=content.strip(), truncated=finish == "length")


def _retry_after_s(headers: Any) -> float:
    """Seconds from a ``Retry-After`` header (numeric form), else 0."""
    try:
        return max(0.0, float(headers.get("retry-after", 0)))
    except (TypeError, ValueError):
        return 0.0


def _brief(exc: openai.APIStatusError) -> str:
    return " ".join(str(exc.message).split())[:120]
