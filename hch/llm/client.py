"""The model-call layer: one client per run, with playback, cache, retries and a concurrency limit.

Every model call of a run goes through :meth:`LLMClient.chat`, which looks for
the result in this order:

1. the transcript being replayed or resumed (``node.run.playback``, taken
   by :func:`hch.recording.record_or_replay`, the path every recorded call takes);
2. the call cache (successful results of earlier calls with the same request);
3. the network, under a semaphore, with retries of transient failures.

and records exactly one :class:`~transcripts.events.ModelCall` event saying
which it was. Under a token budget a call first reserves what it may cost
from its node, and is charged what it did cost (:mod:`hch.llm.tokens`).

The request recorded, hashed and used as the cache key holds the endpoint,
the model, the messages and every sampling parameter (and the sample index),
but never the API key, timeouts or retry settings: those change how a result
is obtained, not what it is.

The API key is read from the environment once, when the client is built. It
is handed to the OpenAI SDK and kept only to scrub it from error text; it is
not in any event, cache entry, log line or exception message.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from hch.llm.concurrency import AdaptiveLimit
from hch.llm.errors import ModelCallError
from hch.llm.retry import (
    AttemptFailed,
    StopAfterFailures,
    StopOnWaitCap,
    classify,
    final_error,
    is_transient,
    one_line,
    wait_before_retry,
)
from hch.llm.settings import LLMSettings
from hch.llm.tokens import charged, reservation, reserve
from hch.node import Node
from hch.recording import CallFailed, record_or_replay
from transcripts.chain import canonical_bytes, hash_of_json
from transcripts.events import ModelCall

if TYPE_CHECKING:
    # Imported where they are used: a replay sends nothing and has no cache, so it loads
    # neither the HTTP client nor diskcache.
    import httpx2
    import openai

    from hch.llm.cache import CallCache


log = logging.getLogger("hch.llm")

Sleep = Callable[[float], Awaitable[None]]

_NO_KEY = "not-set"
"""Sent when the key variable is unset: local servers ignore the key, and the SDK refuses an empty one."""

_MIN_REDACT_LEN = 6
"""Shorter keys are placeholders, not secrets; scrubbing them would mangle ordinary words."""


class _SDK:
    """The run's ``openai.AsyncOpenAI``, built on the first request: a replay, or a run
    served from the cache, sends none and so never loads the SDK (a third of a second)."""

    def __init__(
        self,
        settings: LLMSettings,
        key: str,
        http_client: httpx2.AsyncClient | Callable[[], httpx2.AsyncClient] | None,
    ) -> None:
        self._settings = settings
        self._key = key
        self._http_client = http_client
        self._client: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return "_SDK()"  # nothing reachable from here (the key) is printed

    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import httpx2
            import openai

            given = self._http_client
            http_client = given() if callable(given) else given
            if http_client is None:
                # A pool as large as the calls in flight: the SDK's default (1,000 connections, 100
                # kept alive) is scanned on every request, a quarter of a call's client time.
                n = self._settings.concurrency
                http_client = openai.DefaultAsyncHttpxClient(
                    limits=httpx2.Limits(max_connections=n, max_keepalive_connections=n)
                )
            self._client = openai.AsyncOpenAI(
                base_url=self._settings.base_url,
                api_key=self._key or _NO_KEY,
                max_retries=0,
                timeout=self._settings.timeout_s,
                http_client=http_client,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the SDK's connections (or the HTTP client given for it, if it was never built)."""
        if self._client is not None:
            await self._client.close()
        elif self._http_client is not None and not callable(self._http_client):
            await self._http_client.aclose()


class LLMClient:
    """The one model client of a run.

    It owns one ``openai.AsyncOpenAI`` (with the SDK's own retries off: retries
    are done here, where they are recorded), one semaphore that bounds model
    calls in flight (model calls only: limiting tree nodes would deadlock any
    tree deeper than the limit) and the call cache. It makes the attempts;
    :mod:`hch.llm.retry` decides which failures are retried, how long to wait
    and what a call that failed for good says.

    ``http_client`` is passed to the SDK (tests give one with an
    ``httpx2.MockTransport``), or a function that makes it when the SDK is built, on
    the first request (a replay, which sends none, then never loads ``httpx2``);
    ``environ`` replaces ``os.environ`` for reading the key; ``sleep`` replaces
    ``asyncio.sleep`` between attempts and ``rng`` the backoff jitter's random source
    (tests make both deterministic).
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        cache: CallCache | None = None,
        http_client: httpx2.AsyncClient | Callable[[], httpx2.AsyncClient] | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        env = os.environ if environ is None else environ
        key = env.get(settings.api_key_env) or ""
        self._key_is_set = bool(key)
        self._secret = key if len(key) >= _MIN_REDACT_LEN else ""
        self._sdk = _SDK(settings, key, http_client)  # shared with for_model's copies
        self.cache: CallCache | None = None
        if settings.cache:
            from hch.llm.cache import CallCache

            self.cache = cache if cache is not None else CallCache()
            self.cache.start_loading()  # while the run sets up: its first lookup waits for the index
        self.limit = AdaptiveLimit(settings.concurrency)
        """Model-call attempts in flight: at most ``settings.concurrency``, fewer while the endpoint says 429."""
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.counts: Counter[str] = Counter()
        """chat() calls by source: ``network``, ``cache``, ``transcript``, ``error``."""
        self.usage: Counter[str] = Counter()
        """Tokens spent on network calls of this client (cache and playback cost none)."""

    def __repr__(self) -> str:
        # Explicit so that nothing reachable from the object (the SDK client) is printed.
        return f"LLMClient(model={self.settings.model!r}, base_url={self.settings.base_url!r})"

    def for_model(self, model: str) -> LLMClient:
        """This client asking another model at the same endpoint (a fine-tuned one, say).

        It shares the connection pool, the call limit, the cache and the key:
        a run still has one client, and its concurrency bounds both models'
        calls. Requests (and so cache keys and recorded calls) name ``model``.
        """
        other = copy.copy(self)
        other.settings = self.settings.model_copy(update={"model": model})
        return other

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections and the cache."""
        await self._sdk.aclose()
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
            # A copy: the caller may reuse its list. A dict is told apart from other
            # mappings by its type first (the check against Mapping took a third of this).
            if type(message) is dict:
                copy = message.copy()
            elif isinstance(message, Mapping):
                copy = dict(message)
            else:
                raise TypeError(f"each message must be a dict of str to str, got {message!r}")
            for k, v in copy.items():  # a plain loop: a generator per message cost a tenth of a hit
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"each message must be a dict of str to str, got {message!r}")
            copied.append(copy)
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

    def reservation(self, messages: list[dict[str, str]], *, response_format: dict[str, Any] | None = None) -> int:
        """What :meth:`chat` with these messages reserves of a token budget (see :mod:`hch.llm.tokens`)."""
        return reservation(self.request_for(messages, response_format=response_format))

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
        # Serialised once: the text hashed for the key is the text the event's line holds.
        text = canonical_bytes(request)
        key = hash_of_json(text)

        def replayed(record: ModelCall) -> ModelCall | None:
            if record.response is None:
                return None  # never recorded as a result (failed calls are not played back)
            return self._event(
                node, purpose, request, key, text, response=record.response, source="transcript", tokens=record.tokens
            )

        # Reserved before, settled after with what the call cost: the run's token budget (hch.llm.tokens).
        reserved = reserve(node, request)
        cost = 0
        try:
            event = await record_or_replay(
                node, ModelCall, key, lambda: self._live(node, purpose, request, key, text, reserved), replayed
            )
            cost = event.tokens
        finally:
            node.tokens.settle(reserved, cost)
        assert event.response is not None  # a failed call raised
        if event.source == "network" and self.cache is not None:
            # Written behind: the cache's writer thread stores it, and this run finds it at once.
            self.cache.put(key, {"request": request, "response": event.response, "usage": event.usage})
        return event.response

    # -- the live sources: the cache, then the network -----------------------

    async def _live(
        self, node: Node, purpose: str, request: dict[str, Any], key: str, request_json: bytes, reserved: int
    ) -> ModelCall:
        if self.cache is not None:
            cached = await self._cache_get(key)
            if cached is not None:
                # A hit costs no tokens, so its usage is empty.
                return self._event(node, purpose, request, key, request_json, response=cached, source="cache")
        return await self._network(node, purpose, request, key, request_json, reserved)

    def _event(
        self,
        node: Node,
        purpose: str,
        request: dict[str, Any],
        key: str,
        request_json: bytes,
        *,
        response: str | None,
        source: Literal["network", "cache", "transcript"],
        usage: dict[str, int] | None = None,
        latency_s: float = 0.0,
        attempts: list[dict[str, Any]] | None = None,
        error: str | None = None,
        tokens: int = 0,
    ) -> ModelCall:
        """The ``model_call`` event of one call (counted here: every event built is recorded)."""
        self.counts["error" if error is not None else source] += 1
        return ModelCall(
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
            tokens=tokens,
        ).with_request_json(request_json)

    async def _cache_get(self, key: str) -> str | None:
        assert self.cache is not None
        try:
            return await self.cache.response(key)
        except Exception as exc:  # a damaged or tampered entry is a miss, not a failed run
            log.warning("model-call cache %s: unreadable entry %s (%s); calling the model", self.cache.path, key, exc)
            return None

    async def _network(
        self, node: Node, purpose: str, request: dict[str, Any], key: str, request_json: bytes, reserved: int
    ) -> ModelCall:
        attempts: list[dict[str, Any]] = []
        start = time.monotonic()

        def event(response: str | None, error: str | None, usage: dict[str, int] | None = None) -> ModelCall:
            return self._event(
                node,
                purpose,
                request,
                key,
                request_json,
                response=response,
                source="network",
                usage=usage,
                latency_s=time.monotonic() - start,
                attempts=attempts,
                error=error,
                tokens=0 if error is not None else charged(usage or {}, reserved),
            )

        try:
            text, usage = await self._with_retries(request, attempts)
        except AttemptFailed as failure:
            message, cause = final_error(failure, attempts, self.settings, key_is_set=self._key_is_set)
            error = ModelCallError(message, cause=cause, status=failure.status, attempts=len(attempts))
            raise CallFailed(event(None, message), error) from None
        except asyncio.CancelledError as exc:
            raise CallFailed(event(None, "cancelled"), exc) from None
        except Exception as exc:  # a bug, not a failed call: record it and let it propagate as is
            raise CallFailed(event(None, self._redact(f"{type(exc).__name__}: {exc}")), exc) from None
        self.usage.update(usage)
        return event(text, None, usage)

    # -- retries -----------------------------------------------------------

    async def _with_retries(
        self, request: dict[str, Any], attempts: list[dict[str, Any]]
    ) -> tuple[str, dict[str, int]]:
        def record_wait(state: RetryCallState) -> None:
            attempts[-1]["wait_s"] = round(state.upcoming_sleep, 4)

        retrying = AsyncRetrying(
            stop=StopAfterFailures(self.settings.max_attempts) | StopOnWaitCap(self.settings.max_wait_s),
            wait=lambda state: wait_before_retry(self.settings, state, self._rng),
            retry=retry_if_exception(is_transient),
            before_sleep=record_wait,
            sleep=self._sleep,
            reraise=True,
        )
        result: tuple[str, dict[str, int]] = await retrying(self._attempt, request, attempts)
        return result

    async def _attempt(self, request: dict[str, Any], attempts: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
        number = len(attempts) + 1
        body = completion_body(request)
        async with self.limit:
            start = time.monotonic()
            try:
                # The SDK's timeout bounds each read; this bounds the whole attempt
                # (a server trickling bytes would otherwise never time out).
                async with asyncio.timeout(self.settings.timeout_s):
                    response = await self.send(body)
                text, usage = _parse_completion(response.content)
            except AttemptFailed as failure:
                self._record(attempts, number, failure.outcome, start, failure.detail)
                raise
            except Exception as exc:
                classified = classify(exc, self.settings, self._redact)
                if classified is None:
                    raise
                self._record(attempts, number, classified.outcome, start, classified.detail)
                if classified.rate_limited:
                    self.limit.rate_limited()
                raise classified from exc
        self.limit.succeeded(first_attempt=number == 1)
        self._record(attempts, number, "ok", start, None)
        return text, usage

    async def send(self, body: dict[str, Any]) -> httpx2.Response:
        """POST ``body`` to the chat-completions endpoint through the SDK, untyped.

        The SDK still builds the request (base URL, auth and its other headers,
        timeout) and turns error statuses into its exceptions; what is skipped is
        ``chat.completions.create``'s walk of the body against its typed parameters
        and the parsing of the reply into models, a third of a call's client time.
        The request is byte for byte what ``create(**body)`` sends
        (tests/test_llm_send.py compares them over a range of settings).
        """
        import httpx2

        return await self._sdk.client().post(
            "/chat/completions", body=body, cast_to=httpx2.Response, options={"security": {"bearer_auth": True}}
        )

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

    def _redact(self, text: str) -> str:
        """``text`` with the API key scrubbed out (servers sometimes echo what they were sent)."""
        return text.replace(self._secret, "***") if self._secret else text


def completion_body(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a chat-completion request for a recorded request (see :meth:`LLMClient.request_for`).

    Unset parameters are left out rather than sent as null, which some servers
    reject; the endpoint and the sample index are not sent. The keys are in the
    order the SDK's ``create`` puts them, so that the bytes sent are the same.
    """
    body: dict[str, Any] = {"model": request["model"], "messages": request["messages"]}
    for name in ("max_tokens", "response_format", "seed"):
        if request[name] is not None:
            body[name] = request[name]
    body["temperature"] = request["temperature"]
    return body


def _parse_completion(body: bytes) -> tuple[str, dict[str, int]]:
    """Reply text and token usage from a chat-completion body; anything else is "malformed"."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = one_line(body[:60].decode("utf-8", "replace"))
        detail = f"body is not JSON ({one_line(str(exc), 60)}): {snippet!r}"
        raise AttemptFailed("malformed", transient=True, detail=detail) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise AttemptFailed("malformed", transient=True, detail="no choices in the response")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise AttemptFailed("malformed", transient=True, detail="the first choice has no text content")
    raw_usage = data.get("usage")
    usage: dict[str, int] = {}
    if isinstance(raw_usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = raw_usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                usage[name] = value
    return content, usage
