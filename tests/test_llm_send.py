"""The client's cheap way of sending a chat request is byte for byte what the SDK's typed path sends.

`LLMClient.send` posts the body through the SDK without ``chat.completions.create``'s
typed-parameter walk. Over a range of settings, messages and reply formats, the
request it puts on the wire (method, URL, every header in order, body bytes) must
equal the one ``create(**body)`` puts there through the same SDK client.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hch.llm.client import LLMClient, completion_body
from hch.llm.settings import LLMSettings

REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
FORMATS: list[dict[str, Any] | None] = [
    None,
    {"type": "json_object"},
    {"type": "json_object", "schema": SCHEMA},
    {"type": "json_schema", "json_schema": {"name": "hch_answer", "schema": SCHEMA}},
]

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": text}),
    min_size=1,
    max_size=4,
)


def wire(request: httpx2.Request) -> tuple[str, str, list[tuple[bytes, bytes]], bytes]:
    return request.method, str(request.url), list(request.headers.raw), request.content


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base_url=st.sampled_from(["http://127.0.0.1:8000/v1", "https://api.example.org/v1", "http://host/a/b"]),
    model=st.sampled_from(["m", "gpt-x", "llama3.2:1b", "modèle/π"]),
    temperature=st.sampled_from([0.0, 0.7, 1.0, 1.5]),
    max_tokens=st.one_of(st.none(), st.integers(1, 4096)),
    seed=st.one_of(st.none(), st.integers(0, 2**31)),
    sample=st.integers(0, 3),
    response_format=st.sampled_from(FORMATS),
    key=st.sampled_from(["", "sk-test-0123456789"]),
    timeout_s=st.sampled_from([1.0, 60.0]),
    chat=messages,
)
async def test_send_puts_the_same_bytes_on_the_wire_as_the_typed_create(
    base_url: str,
    model: str,
    temperature: float,
    max_tokens: int | None,
    seed: int | None,
    sample: int,
    response_format: dict[str, Any] | None,
    key: str,
    timeout_s: float,
    chat: list[dict[str, str]],
) -> None:
    seen: list[httpx2.Request] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=REPLY)

    llm = LLMSettings(
        base_url=base_url, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed, timeout_s=timeout_s
    )
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(server))
    async with LLMClient(llm, http_client=http, environ={"OPENAI_API_KEY": key}) as client:
        body = completion_body(client.request_for(chat, response_format=response_format, sample=sample))
        cheap = await client.send(body)
        typed = await client._sdk.client().chat.completions.create(**body)
    assert cheap.status_code == 200 and json.loads(cheap.content) == REPLY
    assert typed.choices[0].message.content == "4"
    assert len(seen) == 2
    assert wire(seen[0]) == wire(seen[1])
    sent = json.loads(seen[0].content)
    assert sent["messages"] == chat and sent["model"] == model
    assert ("seed" in sent) == (seed is not None) and ("max_tokens" in sent) == (max_tokens is not None)
    assert sent.get("response_format") == response_format


async def test_errors_from_the_cheap_path_are_the_sdks_exceptions() -> None:
    import openai

    def server(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, json={"error": {"message": "slow down", "type": "requests", "code": None}})

    llm = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m")
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(server))
    async with LLMClient(llm, http_client=http, environ={}) as client:
        body = completion_body(client.request_for([{"role": "user", "content": "q"}]))
        try:
            await client.send(body)
        except openai.RateLimitError as exc:
            assert exc.status_code == 429 and "slow down" in str(exc)
        else:
            raise AssertionError("a 429 must raise the SDK's RateLimitError")
