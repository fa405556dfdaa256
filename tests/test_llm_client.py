"""The model-call layer against a mocked transport: retries, errors, the request and its hash, secrecy, settings.

Its cache and playback: tests/test_llm_cache_client.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hch.errors import UsageError
from hch.llm import LLMClient, LLMSettings, ModelCallError
from tests.llm_helpers import BASE, MESSAGES, SECRET, Harness, Script, error, ok, open_harness
from transcripts.chain import request_hash


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        yield harness


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        ({"Retry-After": "0.25"}, 0.25),
    ],
)
async def test_429_is_retried_and_retry_after_honoured(h: Harness, headers: dict[str, str], expected: float) -> None:
    script = Script([error(429, "slow down", "rate_limit_exceeded", **headers), ok("four")])
    client = h.client(script)
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "four"
    assert len(script.requests) == 2
    assert h.sleeps == [expected]
    (call,) = h.calls
    assert [a["outcome"] for a in call.attempts] == ["429", "ok"]
    assert call.attempts[0]["wait_s"] == expected
    assert call.attempts[1]["wait_s"] == 0.0
    assert [a["attempt"] for a in call.attempts] == [1, 2]
    assert all(a["elapsed_s"] >= 0 for a in call.attempts)
    assert call.source == "network" and call.error is None
    assert call.usage == {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}


async def test_retry_after_as_http_date(h: Harness) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    script = Script([error(429, "slow down", **{"Retry-After": when}), ok()])
    await h.client(script).chat(h.node, MESSAGES, purpose="answer")
    assert 3.0 <= h.sleeps[0] <= 5.0


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
async def test_transient_statuses_are_retried_with_growing_backoff(h: Harness, status: int) -> None:
    script = Script([error(status, type_="server_error")] * 3 + [ok()])
    client = h.client(script, max_attempts=6, backoff_base_s=1.0, backoff_max_s=100)
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "4"
    assert len(script.requests) == 4
    (call,) = h.calls
    assert [a["outcome"] for a in call.attempts] == [str(status)] * 3 + ["ok"]
    # Equal jitter: between half and all of base * 2^(n-1).
    for n, wait in enumerate(h.sleeps, start=1):
        ceiling = 2.0 ** (n - 1)
        assert ceiling / 2 <= wait <= ceiling
    assert [a["wait_s"] for a in call.attempts[:3]] == [round(s, 4) for s in h.sleeps]


async def test_backoff_is_capped(h: Harness) -> None:
    script = Script([error(500)] * 5 + [ok()])
    await h.client(script, max_attempts=6, backoff_base_s=1.0, backoff_max_s=2.0).chat(h.node, MESSAGES, purpose="a")
    assert max(h.sleeps) <= 2.0


@pytest.mark.parametrize(
    ("reply", "cause", "message"),
    [
        (
            error(400, "messages: bad role"),
            "bad_request",
            "400 Bad Request from http://llm.test/v1: messages: bad role",
        ),
        (
            error(401, "Incorrect API key"),
            "unauthorized",
            "401 Unauthorized from http://llm.test/v1 (check the API key",
        ),
        (error(403, "region blocked"), "forbidden", "403 Forbidden from http://llm.test/v1: region blocked"),
        (
            error(404, "The model 'm' does not exist", "model_not_found"),
            "model_not_found",
            "model 'm' not found at http://llm.test/v1 (404)",
        ),
        (httpx2.Response(404, text="Not Found"), "not_found", "404 Not Found at http://llm.test/v1/chat/completions"),
        (error(422, "max_tokens too large"), "bad_request", "422 Unprocessable"),
        (
            error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
            "quota",
            "quota exceeded at http://llm.test/v1 (429 insufficient_quota)",
        ),
    ],
)
async def test_permanent_errors_are_not_retried(h: Harness, reply: httpx2.Response, cause: str, message: str) -> None:
    script = Script([reply, ok()])
    with pytest.raises(ModelCallError) as info:
        await h.client(script).chat(h.node, MESSAGES, purpose="answer")
    assert len(script.requests) == 1
    assert h.sleeps == []
    assert info.value.cause == cause
    text = str(info.value)
    assert text.startswith("model call failed: ") and message in text and "\n" not in text
    (call,) = h.calls
    assert call.error == text and call.response is None and len(call.attempts) == 1


async def test_401_message_says_when_the_key_is_unset(h: Harness) -> None:
    with pytest.raises(ModelCallError, match=r"check the API key in \$MY_KEY, which is not set"):
        await h.client(Script([error(401)]), env={}, api_key_env="MY_KEY").chat(h.node, MESSAGES, purpose="a")


@pytest.mark.parametrize(
    "reply",
    [
        httpx2.Response(200, content=b'{"id": "x", "choi', headers={"content-type": "application/json"}),
        httpx2.Response(200, content=b"<html>gateway</html>", headers={"content-type": "application/json"}),
        httpx2.Response(200, content=b"plain text", headers={"content-type": "text/plain"}),
        httpx2.Response(200, json={"id": "x"}),
        httpx2.Response(200, json={"choices": []}),
        httpx2.Response(200, json={"choices": [{"message": {"role": "assistant", "content": None}}]}),
        httpx2.Response(200, json=[1, 2]),
    ],
)
async def test_malformed_200_is_retried(h: Harness, reply: httpx2.Response) -> None:
    script = Script([reply, ok("fine")])
    assert await h.client(script).chat(h.node, MESSAGES, purpose="answer") == "fine"
    (call,) = h.calls
    assert [a["outcome"] for a in call.attempts] == ["malformed", "ok"]
    assert call.attempts[0]["detail"]


async def test_connection_errors_and_timeouts_are_retried(h: Harness) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    script = Script([refuse, time_out, ok()])
    assert await h.client(script).chat(h.node, MESSAGES, purpose="answer") == "4"
    assert [a["outcome"] for a in h.calls[0].attempts] == ["connection", "timeout", "ok"]


async def test_gives_up_after_max_attempts(h: Harness) -> None:
    script = Script([error(500, "boom", type_="server_error")])
    with pytest.raises(ModelCallError) as info:
        await h.client(script, max_attempts=3, backoff_base_s=0.5).chat(h.node, MESSAGES, purpose="answer")
    assert len(script.requests) == 3
    assert info.value.cause == "gave_up" and info.value.status == 500
    assert str(info.value).startswith("model call failed: gave up after 3 attempts / ")
    assert "s of retrying: last error 500 Internal Server Error from http://llm.test/v1: boom" in str(info.value)
    assert h.calls[0].attempts[-1]["wait_s"] == 0.0  # no wait after the last attempt


async def test_total_wait_is_capped(h: Harness) -> None:
    script = Script([error(429, **{"Retry-After": "100"}), ok()])
    with pytest.raises(ModelCallError) as info:
        await h.client(script, max_attempts=6, max_wait_s=30).chat(h.node, MESSAGES, purpose="answer")
    assert len(script.requests) == 1 and h.sleeps == []
    assert "the server asked to wait 100s, beyond the 30s retry limit" in str(info.value)

    h.sleeps.clear()
    script = Script([error(500)])
    with pytest.raises(ModelCallError):
        await h.client(script, max_attempts=50, max_wait_s=5, backoff_base_s=1, backoff_max_s=2).chat(
            h.node, MESSAGES, purpose="answer"
        )
    assert sum(h.sleeps) <= 5


async def test_connection_and_timeout_final_messages(h: Harness) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ModelCallError) as info:
        await h.client(Script([refuse]), max_attempts=3).chat(h.node, MESSAGES, purpose="answer")
    assert (
        str(info.value)
        == "model call failed: cannot connect to http://llm.test/v1 (connection refused) after 3 attempts"
    )

    async def stall(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(10)
        return ok()

    with pytest.raises(ModelCallError) as info:
        await h.client(Script([stall]), max_attempts=2, timeout_s=0.05).chat(h.node, MESSAGES, purpose="answer")
    assert str(info.value) == (
        "model call failed: no response from http://llm.test/v1 within 0.05s (timed out) after 2 attempts"
    )
    assert info.value.cause == "timeout"


async def test_sdk_retries_are_off_and_one_event_per_call(h: Harness) -> None:
    script = Script([error(500), ok()])
    client = h.client(script)
    await client.chat(h.node, MESSAGES, purpose="answer")
    # The SDK did not retry behind our back: every request is an attempt we recorded.
    assert len(script.requests) == len(h.calls[0].attempts) == 2
    assert len(h.calls) == 1


async def test_concurrency_limits_model_calls(h: Harness) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return ok()

    client = h.client(Script([slow]), concurrency=3)
    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    await asyncio.gather(*(client.chat(h.node, m, purpose="answer") for m in msgs))
    assert peak == 3


# -- the request and its hash ---------------------------------------------------------------


def test_request_hash_excludes_key_timeouts_and_retry_settings(tmp_path: Path) -> None:
    def client(env_key: str, **kw: Any) -> LLMClient:
        fields: dict[str, Any] = {"base_url": BASE, "model": "m", "cache": False, **kw}
        return LLMClient(LLMSettings(**fields), environ={"OPENAI_API_KEY": env_key})

    base = client("key-one-aaaaaaa").request_for(MESSAGES)
    same = client(
        "key-two-bbbbbbb", timeout_s=1, max_attempts=1, max_wait_s=1, concurrency=9, backoff_base_s=3
    ).request_for(MESSAGES)
    assert request_hash(base) == request_hash(same)
    assert "key-one" not in json.dumps(base)
    assert set(base) == {
        "base_url",
        "model",
        "messages",
        "temperature",
        "max_tokens",
        "seed",
        "response_format",
        "sample",
    }

    c = client("k")
    variants = [
        client("k", model="other").request_for(MESSAGES),
        client("k", base_url="http://elsewhere/v1").request_for(MESSAGES),
        client("k", temperature=0.7).request_for(MESSAGES),
        client("k", max_tokens=50).request_for(MESSAGES),
        client("k", seed=1).request_for(MESSAGES),
        c.request_for(MESSAGES, response_format={"type": "json_object"}),
        c.request_for(MESSAGES, sample=1),
        c.request_for([{"role": "user", "content": "What is 2 + 3?"}]),
        c.request_for([{"role": "system", "content": "be brief"}, *MESSAGES]),
    ]
    hashes = {request_hash(v) for v in variants} | {request_hash(base)}
    assert len(hashes) == len(variants) + 1


async def test_sample_index_offsets_the_seed_sent(h: Harness) -> None:
    script = Script([ok()])
    client = h.client(script, seed=10, max_tokens=20)
    await client.chat(h.node, MESSAGES, purpose="answer", sample=0)
    await client.chat(h.node, MESSAGES, purpose="answer", sample=2)
    assert [b["seed"] for b in script.bodies] == [10, 12]
    assert all(b["max_tokens"] == 20 and "response_format" not in b for b in script.bodies)
    assert [c.request["sample"] for c in h.calls] == [0, 2]


async def test_unset_parameters_are_not_sent_as_null(h: Harness) -> None:
    script = Script([ok()])
    await h.client(script).chat(h.node, MESSAGES, purpose="answer")
    (body,) = script.bodies
    assert set(body) == {"model", "messages", "temperature"}
    assert script.requests[0].headers["authorization"] == f"Bearer {SECRET}"


# -- secrecy -----------------------------------------------------------------------------


async def test_api_key_never_recorded_even_when_the_server_echoes_it(h: Harness) -> None:
    script = Script([error(401, f"Incorrect API key provided: {SECRET}")])
    with pytest.raises(ModelCallError) as info:
        await h.client(script, cache=True).chat(h.node, MESSAGES, purpose="answer")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(h.client(script))
    h.node.run.writer.close()
    assert SECRET not in h.transcript.read_text()
    for event in h.events:
        assert SECRET not in event.model_dump_json()


# -- settings ------------------------------------------------------------------------------


def test_settings_resolution_from_flags_and_environment() -> None:
    env = {"HCH_MODEL": "env-model", "OPENAI_BASE_URL": "http://openai-env/v1", "OPENAI_API_KEY": SECRET}
    s = LLMSettings.resolve(environ=env)
    assert (s.model, s.base_url) == ("env-model", "http://openai-env/v1")
    s = LLMSettings.resolve(environ={**env, "HCH_BASE_URL": "http://hch-env/v1/"})
    assert s.base_url == "http://hch-env/v1"
    s = LLMSettings.resolve(model="flag", base_url="http://flag/v1", environ=env, temperature=None, seed=3)
    assert (s.model, s.base_url, s.temperature, s.seed) == ("flag", "http://flag/v1", 0.0, 3)
    assert LLMSettings.resolve(model="m", environ={}).base_url == "https://api.openai.com/v1"
    public = s.public()
    assert SECRET not in json.dumps(public)
    assert public["api_key_env"] == "OPENAI_API_KEY"
    assert json.loads(json.dumps(public)) == public


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no model given: name one with model or set HCH_MODEL"),
        ({"model": "m", "base_url": "ftp://x"}, "base URL must be an http(s) URL"),
        ({"model": "m", "base_url": "http://user:pw@host/v1"}, "must not contain credentials"),
        ({"model": "m", "concurrency": 0}, "concurrency"),
        ({"model": "m", "max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        LLMSettings.resolve(environ={}, **kwargs)
    assert "\n" not in str(info.value)


# -- rate limits: 429s count against the wait, not the attempts ---------------------------


async def test_429s_do_not_use_up_the_attempts(h: Harness) -> None:
    # Ten 429s in a row, then an answer: with 2 attempts allowed the call used
    # to give up after the second 429.
    script = Script(
        [*(error(429, "slow down", "rate_limit_exceeded", **{"Retry-After": "1"}) for _ in range(10)), ok()]
    )
    client = h.client(script, max_attempts=2, max_wait_s=60, concurrency=8)
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "4"
    assert [a["outcome"] for a in h.calls[0].attempts] == ["429"] * 10 + ["ok"]
    assert h.sleeps == [1.0] * 10
    assert client.limit.limit < 8  # and the client lowered its concurrency


async def test_other_failures_still_count_against_the_attempts(h: Harness) -> None:
    script = Script([error(500, "boom", type_="server_error"), error(429), error(500, "boom", type_="server_error")])
    with pytest.raises(ModelCallError) as info:
        await h.client(script, max_attempts=2, backoff_base_s=0.1).chat(h.node, MESSAGES, purpose="answer")
    assert len(script.requests) == 3
    assert str(info.value).startswith("model call failed: gave up after 3 attempts / ")


async def test_a_long_retry_after_is_honoured_within_the_wait_the_user_allows(h: Harness) -> None:
    script = Script([error(429, **{"Retry-After": "100"}), ok("late")])
    client = h.client(script, max_attempts=6, max_wait_s=300)
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "late"
    assert h.sleeps == [100.0]

    h.sleeps.clear()
    script = Script([error(429, **{"Retry-After": "100"}), ok()])
    with pytest.raises(ModelCallError) as info:
        await h.client(script, max_attempts=6, max_wait_s=30).chat(h.node, MESSAGES, purpose="answer")
    assert h.sleeps == [] and "a longer wait can be allowed with max_wait_s" in str(info.value)
