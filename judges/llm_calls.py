"""One chat-completion call with retries, backoff, a per-run budget and format fallback.

The openai SDK's own retries are switched off (``max_retries=0``): this loop retries 429s,
5xx answers, timeouts and connection errors with exponential backoff and jitter, honours
``Retry-After`` (capped), and records every attempt so that the audit trail shows what
happened. A run shares one :class:`RunState` across its worker threads: it counts calls and
tokens against the budget, remembers when the server does not support JSON-schema replies,
and stops the run early when the endpoint refuses the credentials or the model.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

_FATAL_STATUS = {401: "unauthorized", 403: "forbidden", 404: "model or endpoint not found"}


class CallFailed(Exception):
    """The call did not produce a reply; ``str(exc)`` is the reason shown to reviewers."""


class BudgetExhausted(CallFailed):
    """The run's budget of calls or tokens is spent."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before retrying a failed call.

    Attributes:
        max_retries: retries after the first attempt.
        backoff_base_s: first backoff; doubles with each retry, with jitter.
        backoff_max_s: longest computed backoff.
        retry_after_max_s: longest wait honoured from a ``Retry-After`` header.
    """

    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    retry_after_max_s: float = 60.0

    def wait_s(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class RunState:
    """What the calls of one run share: budget, reply format, and a fatal error."""

    def __init__(self, max_calls: int, max_tokens: int) -> None:
        self.max_calls, self.max_tokens = max_calls, max_tokens
        self.calls = 0
        self.tokens = 0
        self.json_schema = True
        self.fatal: str | None = None
        self._lock = threading.Lock()

    def reserve_call(self) -> None:
        """Count one call, or raise when the run must not make another."""
        with self._lock:
            if self.fatal is not None:
                raise CallFailed(self.fatal)
            if self.calls >= self.max_calls:
                raise BudgetExhausted(
                    f"budget exhausted: {self.calls} of {self.max_calls} calls used"
                )
            if self.tokens >= self.max_tokens:
                raise BudgetExhausted(
                    f"budget exhausted: {self.tokens} of {self.max_tokens} tokens used"
                )
            self.calls += 1

    def add_tokens(self, n: int) -> None:
        with self._lock:
            self.tokens += n

    def use_json_object(self) -> None:
        with self._lock:
            self.json_schema = False

    def set_fatal(self, reason: str) -> None:
        with self._lock:
            self.fatal = reason


@dataclass(slots=True)
class CallRecord:
    """Everything the calls for one cluster did, for its audit trail."""

    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)

    def tokens(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens, "total": total}


@dataclass(frozen=True, slots=True)
class Completion:
    """A reply: its raw content and the exact request that produced it."""

    content: str | None
    request: dict[str, Any]
    response_format: str


def describe(exc: Exception) -> str:
    """A short reason for an SDK error, e.g. ``"HTTP 429: rate limited"``."""
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_error_message(exc)}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return message
    return exc.message


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _schema_unsupported(exc: Exception) -> bool:
    if not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return False
    text = str(exc).casefold()
    return "json_schema" in text or "response_format" in text


def retry_after_s(response: httpx.Response | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date), if any."""
    if response is None:
        return None
    headers = response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        if name in headers:
            try:
                return float(headers[name]) * scale
            except ValueError:
                pass
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


class ChatCaller:
    """Sends chat requests with retries; one per judge, shared by its worker threads."""

    def __init__(
        self,
        client: openai.OpenAI,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client.with_options(max_retries=0)
        self.policy = policy
        self.sleep = sleep
        self.rng = rng or random.Random()

    def complete(
        self,
        request: dict[str, Any],
        schema: dict[str, Any],
        run: RunState,
        record: CallRecord,
    ) -> Completion:
        """Send ``request`` (without ``response_format``) until a reply or a final failure.

        Raises:
            CallFailed: after the last retry, on a non-retryable error, or when the budget
                is spent (:class:`BudgetExhausted`).
        """
        retry = 0
        while True:
            fmt = "json_schema" if run.json_schema else "json_object"
            sent = {**request, "response_format": schema if fmt == "json_schema" else {"type": fmt}}
            run.reserve_call()
            record.attempts += 1
            try:
                response = self.client.chat.completions.create(**sent)
            except openai.APIError as exc:
                record.errors.append(describe(exc))
                if fmt == "json_schema" and _schema_unsupported(exc):
                    run.use_json_object()
                    continue
                self._give_up_unless_retryable(exc, retry, run, record)
                retry += 1
                continue
            return self._completion(response, sent, fmt, run, record)

    def _give_up_unless_retryable(
        self, exc: openai.APIError, retry: int, run: RunState, record: CallRecord
    ) -> None:
        if not _retryable(exc):
            reason = describe(exc)
            if isinstance(exc, openai.APIStatusError) and exc.status_code in _FATAL_STATUS:
                run.set_fatal(
                    f"judge endpoint refused ({_FATAL_STATUS[exc.status_code]}): {reason}"
                )
            raise CallFailed(reason) from exc
        if retry >= self.policy.max_retries:
            raise CallFailed(f"{describe(exc)} (after {record.attempts} attempts)") from exc
        response = exc.response if isinstance(exc, openai.APIStatusError) else None
        wait = self.policy.wait_s(retry, retry_after_s(response), self.rng)
        record.waits_s.append(round(wait, 4))
        self.sleep(wait)

    @staticmethod
    def _completion(
        response: Any, sent: dict[str, Any], fmt: str, run: RunState, record: CallRecord
    ) -> Completion:
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        record.prompt_tokens += prompt
        record.completion_tokens += completion
        run.add_tokens(prompt + completion)
        choices = getattr(response, "choices", None) or []
        content = choices[0].message.content if choices else None
        return Completion(content=content, request=sent, response_format=fmt)
