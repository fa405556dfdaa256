"""The retry policy of model calls: what a failure means, how long to wait, and what to say.

:class:`~hch.llm.client.LLMClient` makes each attempt; this module decides
the rest, so that the whole policy reads in one place:

- :func:`classify` turns an SDK or transport exception into an
  :class:`AttemptFailed` that says whether retrying can help. 429 (except an
  exhausted quota), 408, 409, 5xx, timeouts, connection errors and malformed
  200s are transient; 400, 401, 403, 404 and a quota error are not.
- :func:`wait_before_retry` honours the server's ``Retry-After`` and otherwise
  backs off exponentially with jitter. :class:`StopOnWaitCap` bounds the total
  wait (``--max-wait``); :class:`StopAfterFailures` bounds the attempts that
  failed (``--max-attempts``). A 429 is not a failure of the request but the
  endpoint saying "later": it counts against the wait, not the attempts, so a
  rate-limited run slows down instead of ending (the client also lowers its
  concurrency, see :mod:`hch.llm.concurrency`).
- :func:`final_error` is the one-line message of a call that failed for good,
  naming the cause (and, for a 401, where the key was looked for).
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState
from tenacity.stop import stop_base

from hch.llm.settings import LLMSettings

if TYPE_CHECKING:
    import httpx2
    import openai


class AttemptFailed(Exception):
    """One attempt's failure, classified: what it was and whether retrying can help."""

    def __init__(
        self,
        outcome: str,
        *,
        transient: bool,
        detail: str,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.transient = transient
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.code = code

    @property
    def rate_limited(self) -> bool:
        """A 429 that retrying can outlast (an exhausted quota is not one)."""
        return self.status == 429 and self.transient


def is_transient(exc: BaseException) -> bool:
    """Whether tenacity should try again after ``exc``."""
    return isinstance(exc, AttemptFailed) and exc.transient


class StopAfterFailures(stop_base):
    """Stop after ``max_attempts`` attempts that failed other than by a rate limit.

    One instance per call: it counts that call's failures. Rate-limited
    attempts are bounded by :class:`StopOnWaitCap` instead; put this first in
    a ``|`` so that it sees every attempt.
    """

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self.failures = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if not (isinstance(failure, AttemptFailed) and failure.rate_limited):
            self.failures += 1
        return self.failures >= self.max_attempts


class StopOnWaitCap(stop_base):
    """Stop when the next sleep would take total waiting past ``max_wait_s``.

    tenacity computes the upcoming sleep before asking the stop strategy, so
    a Retry-After longer than the remaining allowance stops at once instead of
    sleeping and then giving up.
    """

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.max_wait_s + 1e-9


def wait_before_retry(settings: LLMSettings, state: RetryCallState, rng: random.Random) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After, else backoff with jitter."""
    failure = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failure, AttemptFailed) and failure.retry_after is not None:
        return float(failure.retry_after)
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2.0 ** (state.attempt_number - 1))
    # "Equal jitter": at least half the backoff, so waits still grow, plus a
    # random half, so that many calls failing together do not retry together.
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def classify(exc: Exception, settings: LLMSettings, redact: Callable[[str], str]) -> AttemptFailed | None:
    """What an SDK or transport exception means for retrying (None: not a call failure, but a bug).

    ``redact`` scrubs the API key from any text taken from the exception
    (servers sometimes echo what they were sent).
    """
    # Here: only a call that failed needs the SDK's and the transport's exception types (replay loads neither).
    import httpx2
    import openai

    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc, redact)
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return AttemptFailed("timeout", transient=True, detail=f"no response within {settings.timeout_s:g}s")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | ConnectionError):
        return AttemptFailed("connection", transient=True, detail=redact(_connection_reason(exc)))
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError | UnicodeDecodeError):
        return AttemptFailed("malformed", transient=True, detail=redact(one_line(str(exc))))
    return None


def _classify_status(exc: openai.APIStatusError, redact: Callable[[str], str]) -> AttemptFailed:
    status = exc.status_code
    message, codes = _error_fields(exc.body)
    detail = redact(one_line(message or exc.message))
    code = codes[0] if codes else None
    if status == 429 and "insufficient_quota" in codes:
        return AttemptFailed("quota", transient=False, detail=detail, status=status, code=code)
    transient = status in (408, 409, 429) or status >= 500
    retry_after = _retry_after(exc.response.headers) if transient else None
    return AttemptFailed(
        str(status), transient=transient, detail=detail, status=status, retry_after=retry_after, code=code
    )


def final_error(
    failure: AttemptFailed, attempts: list[dict[str, Any]], settings: LLMSettings, *, key_is_set: bool
) -> tuple[str, str]:
    """The one-line message and cause tag for a call that failed for good."""
    base = settings.base_url
    status = failure.status
    tries = _plural(len(attempts), "attempt")
    if not failure.transient:
        if status == 401:
            where = f"${settings.api_key_env}" + ("" if key_is_set else ", which is not set")
            return f"model call failed: 401 Unauthorized from {base} (check the API key in {where})", "unauthorized"
        if status == 403:
            return f"model call failed: 403 Forbidden from {base}: {failure.detail}", "forbidden"
        if status == 404:
            if failure.code == "model_not_found" or "model" in failure.detail.lower():
                return f"model call failed: model {settings.model!r} not found at {base} (404)", "model_not_found"
            return (
                f"model call failed: 404 Not Found at {base}/chat/completions "
                "(check the base URL: OpenAI-compatible servers usually end in /v1)",
                "not_found",
            )
        if failure.outcome == "quota":
            quota = f"quota exceeded at {base} (429 insufficient_quota)"
            return f"model call failed: {quota}: {failure.detail}", "quota"
        return f"model call failed: {_status_text(status)} from {base}: {failure.detail}", "bad_request"
    if failure.outcome == "connection":
        return f"model call failed: cannot connect to {base} ({failure.detail}) after {tries}", "connection"
    if failure.outcome == "timeout":
        return (
            f"model call failed: no response from {base} within {settings.timeout_s:g}s (timed out) after {tries}",
            "timeout",
        )
    waited = sum(float(a["wait_s"]) for a in attempts)
    if failure.outcome == "malformed":
        last = f"malformed response from {base} ({failure.detail})"
    else:
        last = f"{_status_text(status)} from {base}" + (f": {failure.detail}" if failure.detail else "")
    message = f"model call failed: gave up after {tries} / {waited:.1f}s of retrying: last error {last}"
    if failure.retry_after is not None and waited + failure.retry_after > settings.max_wait_s + 1e-9:
        message += (
            f" (the server asked to wait {failure.retry_after:g}s, beyond the {settings.max_wait_s:g}s retry limit; "
            "a longer wait can be allowed with max_wait_s)"
        )
    return message, "malformed" if failure.outcome == "malformed" else "gave_up"


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its white space folded, cut to ``limit`` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_fields(body: object) -> tuple[str | None, list[str]]:
    """(message, [code, type]) from an error body in the OpenAI shape or a common variant.

    The SDK has already unwrapped ``{"error": {...}}`` when the body had that shape.
    """
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, str):
            return inner, []
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail")
            codes = [str(inner[k]) for k in ("code", "type") if inner.get(k) is not None]
            return (str(message) if message is not None else None), codes
    if isinstance(body, str) and body.strip():
        return body[:200], []
    return None, []


def _connection_reason(exc: BaseException) -> str:
    """A short reason for a connection failure, from the innermost useful cause."""
    seen: set[int] = set()
    current: BaseException | None = exc
    messages: list[str] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not resolved"
        messages.append(str(current))
        current = current.__cause__ or current.__context__
    text = " ".join(messages).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name not resolved"
    if "reset" in text:
        return "connection reset"
    useful = [m for m in messages if m and m != "Connection error."]
    return one_line(useful[-1]) if useful else "connection error"


def _status_text(status: int | None) -> str:
    if status is None:
        return "error"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
