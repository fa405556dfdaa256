"""The call cache's in-memory index: it serves exactly what the disk holds, and a request
that differs in anything that changes the output never gets another request's response."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hch.budget import Budget
from hch.context import RunContext
from hch.llm.cache import CallCache, JSONTextDisk
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
    assert await cache.response("k0") == "r0"  # the first lookup waits for the index
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


# Rows as this module writes them, and as another program (or an older version) might:
# the index must hold for each exactly what reading the row with Python's json gives.
ROW_TEXTS: dict[str, str] = {
    "plain": json.dumps({"request": {"m": 'x\n\t"q" \\ /'}, "response": 'a\nb "c" \\ é 😀', "usage": {}}),
    "ascii escapes": json.dumps({"request": {}, "response": "é 😀 \u2028", "usage": {}}, ensure_ascii=True),
    "nul": json.dumps({"response": "before\x00after"}, ensure_ascii=False),
    "control": json.dumps({"response": "bell\x07"}, ensure_ascii=False),
    "lone surrogate": '{"response": "a\\ud800b"}',
    "escaped slash and short escapes": '{"response": "a\\/b\\b\\f\\r"}',
    "repeated key": '{"response": "first", "response": "last"}',
    "repeated, last not text": '{"response": "first", "response": 3}',
    "nested only": '{"request": {"response": "inner"}}',
    "not text": '{"response": ["a"]}',
    "the word as a value": '{"request": "response", "response": "r"}',
    "backslash-u in text": json.dumps({"response": "C:\\users"}),
    "not an object": '["response", "r"]',
    "not json": '{"response": "r"',
    "nan": '{"response": "r", "x": NaN}',
    "spaces": ' {"response" : "r"} \n',
    "beyond 64 bits": '{"request": {"seed": 123456789012345678901234567890}, "response": "r"}',
    "out of range": '{"response": "r", "x": 1e400}',
}


async def filled(path: Path, entries: int) -> None:
    """A cache at ``path`` holding responses ``r0``, ``r1``, ... under keys ``k0``, ``k1``, ..., closed."""
    cache = CallCache(path)
    for i in range(entries):
        await cache.set(f"k{i}", {"response": f"r{i}"})
    await cache.aclose()


def python_reading(text: str) -> str | None:
    """What a lookup on the disk answers for a row holding ``text`` (JSONTextDisk.fetch, then the response)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    response = value.get("response") if isinstance(value, dict) else None
    return response if isinstance(response, str) else None


async def test_the_index_reads_every_row_as_python_json_does(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    first = CallCache(path)
    for name in ROW_TEXTS:
        await first.set(name, {"response": "placeholder"})
    await first.aclose()
    with sqlite3.connect(path / "cache.db") as db:
        for name, text in ROW_TEXTS.items():
            db.execute("UPDATE Cache SET value = ? WHERE key = ?", (text, name))

    cache = CallCache(path)
    assert await cache.response("plain") == python_reading(ROW_TEXTS["plain"])
    assert cache._memory is not None
    expected = {name: python_reading(text) for name, text in ROW_TEXTS.items()}
    assert {name: cache._memory.get(name) for name in ROW_TEXTS} == expected
    assert expected["nul"] == "before\x00after" and expected["repeated key"] == "last"
    await cache.aclose()


async def test_lookups_made_while_the_index_loads_wait_for_it_and_read_no_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache"
    await filled(path, 20)

    cache = CallCache(path)
    read: list[str] = []
    original = cache._get

    def reading(key: str) -> dict[str, Any] | None:
        read.append(key)
        return original(key)

    monkeypatch.setattr(cache, "_get", reading)
    keys = [f"k{i}" for i in range(20)] + ["missing"]
    answers = await asyncio.gather(*(cache.response(key) for key in keys))
    assert answers == [f"r{i}" for i in range(20)] + [None]
    assert read == []  # every lookup was answered by the index, none by a row read
    assert (cache.hits, cache.misses) == (20, 1)
    await cache.aclose()


async def test_a_cache_too_large_to_index_is_served_from_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache"
    await filled(path, 3)

    monkeypatch.setattr("hch.llm.cache.MEMORY_INDEX_LIMIT", 2)
    cache = CallCache(path)
    assert await asyncio.gather(*(cache.response(f"k{i}") for i in range(4))) == ["r0", "r1", "r2", None]
    assert cache._memory is None
    cache.put("mine", {"response": "m"})
    assert await cache.response("mine") == "m"
    await cache.aclose()


async def test_lookups_in_a_large_cache_are_served_from_the_disk_until_its_index_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache"
    await filled(path, 3)

    monkeypatch.setattr("hch.llm.cache.WAIT_FOR_INDEX_LIMIT", 2)  # so this cache counts as large
    release = threading.Event()
    fetch_response = JSONTextDisk.fetch_response

    def slow_fetch(self: JSONTextDisk, mode: int, filename: str | None, value: Any) -> str | None:
        if threading.current_thread().name == "hch-cache-index":
            release.wait()  # the index is still loading
        return fetch_response(self, mode, filename, value)

    monkeypatch.setattr(JSONTextDisk, "fetch_response", slow_fetch)
    cache = CallCache(path)
    cache.start_loading()
    lookups = asyncio.gather(*(cache.response(f"k{i}") for i in range(4)))
    # Waiting for the index would wait for ever: the bound turns that into a failure, not a hang.
    assert await asyncio.wait_for(lookups, timeout=60) == ["r0", "r1", "r2", None]
    assert cache._memory is None  # answered by the disk, not by waiting for the index
    release.set()
    assert cache._loader is not None
    cache._loader.join()
    assert cache._memory == {"k0": "r0", "k1": "r1", "k2": "r2"}
    await cache.aclose()
