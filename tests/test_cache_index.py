"""The call cache's in-memory index: it serves exactly what the disk holds, and a request
that differs in anything that changes the output never gets another request's response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from hch.budget import Budget
from hch.context import RunContext
from hch.llm.cache import CallCache
from hch.llm.client import LLMClient
from hch.llm.settings import LLMSettings
from hch.node import Node
from transcripts import read_transcript
from transcripts.events import Header, ModelCall
from transcripts.writer import TranscriptWriter

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


async def test_the_loaded_index_serves_what_the_disk_holds_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    first = CallCache(path)
    for i in range(50):
        await first.set(f"k{i}", {"request": {"i": i}, "response": f"r{i}", "usage": {}})
    await first.set("not-text", {"response": 3})
    await first.aclose()

    cache = CallCache(path)
    assert await cache.response("k0") == "r0"  # from the disk while the index loads, or from it
    assert cache._loader is not None
    cache._loader.join()
    assert cache._memory is not None and len(cache._memory) == 50
    for i in range(50):
        entry = await cache.get(f"k{i}")
        assert entry is not None and await cache.response(f"k{i}") == entry["response"] == f"r{i}"
    assert await cache.response("not-text") is None
    assert await cache.response("missing") is None

    # Another process stores an entry after the index was loaded: this run, which indexed
    # the disk as it was, calls the model for it; the next run finds it.
    other = CallCache(path)
    await other.set("late", {"response": "later"})
    await other.aclose()
    assert await cache.response("late") is None
    following = CallCache(path)
    assert await following.response("late") == "later"
    await following.aclose()

    await cache.set("mine", {"response": "m"})
    assert cache._memory["mine"] == "m"
    assert await cache.clear() == 53
    assert await cache.response("k1") is None and await cache.response("mine") is None
    await cache.aclose()


def one_node(tmp_path: Path, name: str) -> tuple[Node, TranscriptWriter]:
    writer = TranscriptWriter(tmp_path / name, Header(run_id="r", created="now", hch_version="test", question="q"))
    run = RunContext(writer=writer, max_subquestions=4)
    return Node("0", None, "q", 0, None, Budget(None), run), writer


BASE: dict[str, Any] = {"base_url": "http://llm.test/v1", "model": "m", "temperature": 0.0}

CHANGES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("model", {"model": "m2"}, {}),
    ("endpoint", {"base_url": "http://other.test/v1"}, {}),
    ("temperature", {"temperature": 0.5}, {}),
    ("max_tokens", {"max_tokens": 7}, {}),
    ("seed", {"seed": 1}, {}),
    ("message text", {}, {"messages": [MESSAGES[0], {"role": "user", "content": "What is 2 + 3?"}]}),
    ("message role", {}, {"messages": [{"role": "user", "content": "Be brief."}, MESSAGES[1]]}),
    ("one more message", {}, {"messages": [*MESSAGES, {"role": "user", "content": "Sure?"}]}),
    ("reply format", {}, {"response_format": {"type": "json_object"}}),
    ("sample index", {}, {"sample": 1}),
]


@pytest.mark.parametrize(("what", "settings_change", "call_change"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_a_request_that_differs_in_what_changes_the_output_is_never_served_a_cached_response(
    tmp_path: Path, what: str, settings_change: dict[str, Any], call_change: dict[str, Any]
) -> None:
    sent: list[httpx2.Request] = []

    def server(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        text = f"answer {len(sent)}"
        return httpx2.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})

    cache = CallCache(tmp_path / "cache")

    def client(**change: Any) -> LLMClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(server))
        return LLMClient(LLMSettings(**{**BASE, **change}), cache=cache, http_client=http, environ={})

    node, writer = one_node(tmp_path, "t.jsonl")
    async with client() as warm:
        assert await warm.chat(node, MESSAGES, purpose="answer") == "answer 1"
    assert cache._loader is not None
    cache._loader.join()  # the index is loaded: hits now come from memory
    async with client(timeout_s=5.0, max_attempts=2, concurrency=3) as same:  # how, not what: still a hit
        assert await same.chat(node, MESSAGES, purpose="answer") == "answer 1"
    call = {"messages": MESSAGES, **call_change}
    async with client(**settings_change) as changed:
        assert await changed.chat(node, purpose="answer", **call) == "answer 2"
        assert await changed.chat(node, purpose="answer", **call) == "answer 2"  # and now it is cached
    writer.close()
    assert len(sent) == 2
    calls = [e for e in read_transcript(writer.path).events if isinstance(e, ModelCall)]
    assert [c.source for c in calls] == ["network", "cache", "network", "cache"]
    await cache.aclose()
