"""The model-call layer: one client per run, with playback, cache, retries and a concurrency limit.

Every model call of a run goes through :meth:`LLMClient.chat`, which looks for
the result in this order:

1. the transcript being replayed or resumed (``node.run.playback``);
2. the call cache (successful results of earlier calls with the same request);
3. the network, under a semaphore, with retries of transient failures.

and records exactly one :class:`~transcripts.events.ModelCall` event saying
which it was. The request recorded, hashed and used as the cache key holds the
endpoint, the model, the messages and every sampling parameter (and the sample
index), but never the API key, timeouts or retry settings: those change how a
result is obtained, not what it is.

The API key is read from the environment once, when the client is built. It
is handed to the OpenAI SDK and kept only to scrub it from error text; it is
not in any event, cache entry, log line or exception message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

import httpx2
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from hch.llm.cache import CallCache
from hch.llm.errors import ModelCallError
from hch.llm.settings import LLMSettings
from hch.node import Node
from transcripts.chain import request_hash
from transcripts.events import ModelCall

log = logging.getLogger("hch.llm")

Sleep = Callable[[float], Awaitable[None]]

_NO_KEY = "not-set"
"""Sent when the key variable is unset: local servers ignore the key, and the SDK refuses an empty one."""

_MIN_REDACT_LEN = 6
"""Shorter keys are placeholders, not secrets; scrubbing them would mangle ordinary words."""


class _AttemptFailed(Exception):
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


class _StopOnWaitCap(stop_base):
    """Stop when the next sleep would take total waiting past ``max_wait_s``.

    tenacity computes the upcoming sleep before asking the stop strategy, so
    a Retry-After longer than the remaining allowance stops at once instead of
    sleeping and then giving up.
    """

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.max_wait_s + 1e-9


class LLMClient:
    """The one model client of a run.

    It owns one ``openai.AsyncOpenAI`` (with the SDK's own retries off: retries
    are done here, where they are recorded), one semaphore that bounds model
    calls in flight (model calls only: limiting tree nodes would deadlock any
    tree deeper than the limit), the call cache and the retry policy.

    ``http_client`` is passed to the SDK (tests give one with an
    ``httpx2.MockTransport``); ``environ`` replaces ``os.environ`` for reading
    the key; ``sleep`` replaces ``asyncio.sleep`` between attempts and ``rng``
    the backoff jitter's random source (tests make both deterministic).
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        cache: CallCache | None = None,
        http_client: httpx2.AsyncClient | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        env = os.environ if environ is None else environ
        key = env.get(settings.api_key_env) or ""
        self._key_is_set = bool(key)
        self._secret = key if len(key) >= _MIN_REDACT_LEN else ""
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=key or _NO_KEY,
            max_retries=0,
            timeout=settings.timeout_s,
            http_client=http_client,
        )
        self.cache: CallCache | None = None
        if settings.cache:
            self.cache = cache if cache is not None else CallCache()
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.counts: Counter[str] = Counter()
        """chat() calls by source: ``network``, ``cache``, ``transcript``, ``error``."""
        self.usage: Counter[str] = Counter()
        """Tokens spent on network calls of this client (cache and playback cost none)."""

    def __repr__(self) -> str:
        # Explicit so that nothing reachable from the object (the SDK client) is printed.
        return f"LLMClient(model={self.settings.model!r}, base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections and the cache."""
        await self._client.close()
        if self.cache is not None:
            await self.cache.aclose()

    def request_for(
        self, messages: list[dict[str, str]], *, response_format: dict[str, Any] | None = None, sample: int = 0
    ) -> dict[str, Any]:
        """The request as recorded and hashed: what determines the result, and no secret."""
        if sample < 0:
            raise ValueError(f"sample index must be >= 0, got {sample}")
        copied: list[dict[str, str]] = []
        for message in messages:
            if not isinstance(message, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in message.items()
            ):
                raise TypeError(f"each message must be a dict of str to str, got {message!r}")
            copied.append(dict(message))  # a copy: the caller may reuse its list
        s = self.settings
        return {
            "base_url": s.base_url,
            "model": s.model,
            "messages": copied,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
            "seed": None if s.seed is None else s.seed + sample,
            "response_format": response_format,
            "sample": sample,
        }

    async def chat(
        self,
        node: Node,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        response_format: dict[str, Any] | None = None,
        sample: int = 0,
    ) -> str:
        """The model's reply to ``messages``, recorded as one ``model_call`` event of ``node``.

        ``purpose`` says what the call is for (``"decompose"``, ``"answer"``, ...);
        ``sample`` distinguishes repeated samples of the same request (it is
        part of the cache key, and offsets the seed). Raises
        :class:`ModelCallError` when the call fails for good, and
        :class:`~hch.playback.Divergence` when a strict replay meets a call the
        transcript did not record.
        """
        request = self.request_for(messages, response_format=response_format, sample=sample)
        key = request_hash(request)

        playback = node.run.playback
        if playback is not None:
            record = playback.take(node.node_id, "model_call", key)
            if isinstance(record, ModelCall) and record.response is not None:
                self._emit(node, purpose, request, key, response=record.response, source="transcript")
                return record.response

        if self.cache is not None:
            entry = await self._cache_get(key)
            if entry is not None:
                # A hit costs no tokens, so its usage is empty.
                self._emit(node, purpose, request, key, response=entry["response"], source="cache")
                return str(entry["response"])

        return await self._network(node, purpose, request, key)

    # -- the three sources -------------------------------------------------

    def _emit(
        self,
        node: Node,
        purpose: str,
        request: dict[str, Any],
        key: str,
        *,
        response: str | None,
        source: Literal["network", "cache", "transcript"],
        usage: dict[str, int] | None = None,
        latency_s: float = 0.0,
        attempts: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> None:
        self.counts["error" if error is not None else source] += 1
        node.emit(
            ModelCall(
                node_id=node.node_id,
                purpose=purpose,
                request=request,
                request_hash=key,
                response=response,
                usage=usage or {},
                latency_s=round(latency_s, 4),
                attempts=attempts or [],
                source=source,
                error=error,
            )
        )

    async def _cache_get(self, key: str) -> dict[str, Any] | None:
        assert self.cache is not None
        try:
            entry = await self.cache.get(key)
        except Exception as exc:  # a damaged or tampered entry is a miss, not a failed run
            log.warning("model-call cache %s: unreadable entry %s (%s); calling the model", self.cache.path, key, exc)
            return None
        if entry is None or not isinstance(entry.get("response"), str):
            return None
        return entry

    async def _network(self, node: Node, purpose: str, request: dict[str, Any], key: str) -> str:
        attempts: list[dict[str, Any]] = []
        start = time.monotonic()

        def record(response: str | None, error: str | None, usage: dict[str, int] | None = None) -> None:
            self._emit(
                node,
                purpose,
                request,
                key,
                response=response,
                source="network",
                usage=usage,
                latency_s=time.monotonic() - start,
                attempts=attempts,
                error=error,
            )

        try:
            text, usage = await self._with_retries(request, attempts)
        except _AttemptFailed as failure:
            message, cause = self._final_error(failure, attempts)
            record(None, message)
            raise ModelCallError(message, cause=cause, status=failure.status, attempts=len(attempts)) from None
        except asyncio.CancelledError:
            record(None, "cancelled")
            raise
        except Exception as exc:  # a bug, not a failed call: record it and let it propagate as is
            record(None, self._redact(f"{type(exc).__name__}: {exc}"))
            raise
        self.usage.update(usage)
        # Recorded before the cache write, so that a cancellation while writing
        # cannot lose the record of a call that was made (and paid for).
        record(text, None, usage)
        if self.cache is not None:
            try:
                await self.cache.set(key, {"request": request, "response": text, "usage": usage})
            except Exception as exc:  # the result is good; losing its cache entry must not lose it
                log.warning("model-call cache %s: could not store %s (%s)", self.cache.path, key, exc)
        return text

    # -- retries -----------------------------------------------------------

    async def _with_retries(
        self, request: dict[str, Any], attempts: list[dict[str, Any]]
    ) -> tuple[str, dict[str, int]]:
        def record_wait(state: RetryCallState) -> None:
            attempts[-1]["wait_s"] = round(state.upcoming_sleep, 4)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts) | _StopOnWaitCap(self.settings.max_wait_s),
            wait=self._wait_for,
            retry=retry_if_exception(lambda exc: isinstance(exc, _AttemptFailed) and exc.transient),
            before_sleep=record_wait,
            sleep=self._sleep,
            reraise=True,
        )
        result: tuple[str, dict[str, int]] = await retrying(self._attempt, request, attempts)
        return result

    def _wait_for(self, state: RetryCallState) -> float:
        """Seconds to wait before the next attempt: the server's Retry-After, else backoff with jitter."""
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _AttemptFailed) and failure.retry_after is not None:
            return float(failure.retry_after)
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2.0 ** (state.attempt_number - 1))
        # "Equal jitter": at least half the backoff, so waits still grow, plus a
        # random half, so that many calls failing together do not retry together.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _attempt(self, request: dict[str, Any], attempts: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
        number = len(attempts) + 1
        kwargs: dict[str, Any] = {
            "model": request["model"],
            "messages": request["messages"],
            "temperature": request["temperature"],
        }
        # Unset parameters are left out rather than sent as null, which some servers reject.
        for name in ("max_tokens", "seed", "response_format"):
            if request[name] is not None:
                kwargs[name] = request[name]
        async with self._semaphore:
            start = time.monotonic()
            try:
                # The SDK's timeout bounds each read; this bounds the whole attempt
                # (a server trickling bytes would otherwise never time out).
                async with asyncio.timeout(self.settings.timeout_s):
                    raw = await self._client.chat.completions.with_raw_response.create(**kwargs)
                    body = raw.http_response.content
                text, usage = _parse_completion(body)
            except _AttemptFailed as failure:
                self._record(attempts, number, failure.outcome, start, failure.detail)
                raise
            except Exception as exc:
                classified = self._classify(exc)
                if classified is None:
                    raise
                self._record(attempts, number, classified.outcome, start, classified.detail)
                raise classified from exc
        self._record(attempts, number, "ok", start, None)
        return text, usage

    @staticmethod
    def _record(attempts: list[dict[str, Any]], number: int, outcome: str, start: float, detail: str | None) -> None:
        entry: dict[str, Any] = {
            "attempt": number,
            "outcome": outcome,
            "wait_s": 0.0,
            "elapsed_s": round(time.monotonic() - start, 4),
        }
        if detail is not None:
            entry["detail"] = detail
        attempts.append(entry)

    def _classify(self, exc: Exception) -> _AttemptFailed | None:
        """What an SDK or transport exception means for retrying (None: not a call failure)."""
        if isinstance(exc, openai.APIStatusError):
            return self._classify_status(exc)
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            return _AttemptFailed("timeout", transient=True, detail=f"no response within {self.settings.timeout_s:g}s")
        if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | ConnectionError):
            return _AttemptFailed("connection", transient=True, detail=self._redact(_connection_reason(exc)))
        if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError | UnicodeDecodeError):
            return _AttemptFailed("malformed", transient=True, detail=self._redact(_one_line(str(exc))))
        return None

    def _classify_status(self, exc: openai.APIStatusError) -> _AttemptFailed:
        status = exc.status_code
        message, codes = _error_fields(exc.body)
        detail = self._redact(_one_line(message or exc.message))
        code = codes[0] if codes else None
        if status == 429 and "insufficient_quota" in codes:
            return _AttemptFailed("quota", transient=False, detail=detail, status=status, code=code)
        transient = status in (408, 409, 429) or status >= 500
        retry_after = _retry_after(exc.response.headers) if transient else None
        return _AttemptFailed(
            str(status), transient=transient, detail=detail, status=status, retry_after=retry_after, code=code
        )

    # -- messages ----------------------------------------------------------

    def _final_error(self, failure: _AttemptFailed, attempts: list[dict[str, Any]]) -> tuple[str, str]:
        """The one-line message and cause tag for a call that failed for good."""
        base = self.settings.base_url
        status = failure.status
        tries = _plural(len(attempts), "attempt")
        if not failure.transient:
            if status == 401:
                where = f"${self.settings.api_key_env}" + ("" if self._key_is_set else ", which is not set")
                return f"model call failed: 401 Unauthorized from {base} (check the API key in {where})", "unauthorized"
            if status == 403:
                return f"model call failed: 403 Forbidden from {base}: {failure.detail}", "forbidden"
            if status == 404:
                if failure.code == "model_not_found" or "model" in failure.detail.lower():
                    model = self.settings.model
                    return f"model call failed: model {model!r} not found at {base} (404)", "model_not_found"
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
                f"model call failed: no response from {base} within {self.settings.timeout_s:g}s "
                f"(timed out) after {tries}",
                "timeout",
            )
        waited = sum(float(a["wait_s"]) for a in attempts)
        if failure.outcome == "malformed":
            last = f"malformed response from {base} ({failure.detail})"
        else:
            last = f"{_status_text(status)} from {base}" + (f": {failure.detail}" if failure.detail else "")
        message = f"model call failed: gave up after {tries} / {waited:.1f}s of retrying: last error {last}"
        if failure.retry_after is not None and len(attempts) < self.settings.max_attempts:
            message += (
                f" (the server asked to wait {failure.retry_after:g}s, "
                f"beyond the {self.settings.max_wait_s:g}s retry limit)"
            )
        return message, "malformed" if failure.outcome == "malformed" else "gave_up"

    def _redact(self, text: str) -> str:
        """``text`` with the API key scrubbed out (servers sometimes echo what they were sent)."""
        return text.replace(self._secret, "***") if self._secret else text


# -- helpers ---------------------------------------------------------------


def _parse_completion(body: bytes) -> tuple[str, dict[str, int]]:
    """Reply text and token usage from a chat-completion body; anything else is "malformed"."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = _one_line(body[:60].decode("utf-8", "replace"))
        detail = f"body is not JSON ({_one_line(str(exc), 60)}): {snippet!r}"
        raise _AttemptFailed("malformed", transient=True, detail=detail) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _AttemptFailed("malformed", transient=True, detail="no choices in the response")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise _AttemptFailed("malformed", transient=True, detail="the first choice has no text content")
    raw_usage = data.get("usage")
    usage: dict[str, int] = {}
    if isinstance(raw_usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = raw_usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                usage[name] = value
    return content, usage


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
    return _one_line(useful[-1]) if useful else "connection error"


def _status_text(status: int | None) -> str:
    if status is None:
        return "error"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _one_line(text: str, limit: int = 200) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
