"""The model-call layer's cache and playback against a mocked transport: a hit or a recorded reply costs no request."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import diskcache  # type: ignore[import-untyped]
import pytest

from hch.llm import CallCache, LLMClient, LLMSettings, ModelCallError
from hch.llm.cache import UnsafeCacheEntry
from hch.playback import Divergence, Playback
from tests.llm_helpers import BASE, MESSAGES, Harness, Script, error, make_node, ok, open_harness
from transcripts.chain import request_hash
from transcripts.events import Event, ModelCall


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(tmp_path) as harness:
        yield harness


# -- the cache -----------------------------------------------------------------------------


async def test_cache_hit_costs_no_request_and_no_tokens(h: Harness) -> None:
    script = Script([ok("cached answer")])
    client = h.client(script, cache=True)
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "cached answer"
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "cached answer"
    assert len(script.requests) == 1
    first, second = h.calls
    assert first.source == "network" and first.usage["total_tokens"] == 8
    assert second.source == "cache" and second.usage == {} and second.attempts == []
    assert second.request_hash == first.request_hash
    assert client.cache is not None
    stats = await client.cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)
    assert stats.size_bytes > 0
    # A different sample index is a different entry.
    await client.chat(h.node, MESSAGES, purpose="answer", sample=1)
    assert len(script.requests) == 2
    await client.aclose()


async def test_cached_values_are_json_text_on_disk(h: Harness) -> None:
    big = "x" * 40_000  # past diskcache's 32 kB inline limit: stored in a value file
    client = h.client(Script([ok("small"), ok(big)]), cache=True)
    await client.chat(h.node, MESSAGES, purpose="answer")
    await client.chat(h.node, [{"role": "user", "content": "big"}], purpose="answer")
    await client.aclose()

    cache_dir = h.tmp_path / "cache"
    with sqlite3.connect(cache_dir / "cache.db") as db:
        rows = db.execute("SELECT key, mode, typeof(value), value, filename FROM Cache").fetchall()
    assert len(rows) == 2
    modes = {row[1] for row in rows}
    assert modes <= {diskcache.core.MODE_RAW, diskcache.core.MODE_TEXT}
    for key, mode, kind, value, filename in rows:
        text = value if mode == diskcache.core.MODE_RAW else (cache_dir / filename).read_text()
        assert mode != diskcache.core.MODE_RAW or kind == "text"
        entry = json.loads(text)
        assert entry["response"] in ("small", big)
        assert request_hash(entry["request"]) == key


async def test_errors_are_never_cached(h: Harness) -> None:
    script = Script([error(400, "bad"), ok("later")])
    client = h.client(script, cache=True)
    with pytest.raises(ModelCallError):
        await client.chat(h.node, MESSAGES, purpose="answer")
    assert client.cache is not None
    assert (await client.cache.stats()).entries == 0
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "later"
    assert len(script.requests) == 2


async def test_pickled_cache_rows_are_refused(tmp_path: Path, h: Harness) -> None:
    cache_dir = h.tmp_path / "cache"
    client = h.client(Script([ok("fresh")]), cache=True)
    key = request_hash(client.request_for(MESSAGES))
    # Someone else writes a pickled value under the key the client will look up.
    with diskcache.Cache(str(cache_dir)) as other:
        other.set(key, {"response": "from a pickle"})
    with pytest.raises(UnsafeCacheEntry):
        await CallCache(cache_dir).get(key)
    # The client treats the row as a miss and calls the model instead.
    assert await client.chat(h.node, MESSAGES, purpose="answer") == "fresh"
    await client.aclose()


async def test_cache_clear(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c")
    assert (await cache.stats()).entries == 0  # an unopened cache reports empty without creating files
    await cache.set("k1", {"response": "a"})
    await cache.set("k2", {"response": "b"})
    assert await cache.get("k1") == {"response": "a"}
    assert await cache.clear() == 2
    assert await cache.get("k1") is None
    await cache.aclose()


async def test_default_cache_dir_is_under_hch_home(hch_home: Path) -> None:
    assert CallCache().path == hch_home / "cache"


# -- playback ----------------------------------------------------------------------------


def recorded(client: LLMClient, response: str, node_id: str = "0") -> ModelCall:
    request = client.request_for(MESSAGES)
    return ModelCall(
        node_id=node_id, purpose="answer", request=request, request_hash=request_hash(request), response=response
    )


@pytest.mark.parametrize("strict", [True, False])
async def test_playback_returns_recorded_response_without_network(tmp_path: Path, strict: bool) -> None:
    script = Script([ok("live")])
    events: list[Event] = []
    probe = LLMClient(LLMSettings(base_url=BASE, model="m", cache=False), environ={})
    playback = Playback.from_events([recorded(probe, "from transcript")], strict=strict)
    node, writer = make_node(tmp_path, events, playback)
    h = Harness(node=node, events=events, sleeps=[], tmp_path=tmp_path, transcript=writer.path)
    client = h.client(script, cache=True)
    assert await client.chat(node, MESSAGES, purpose="answer") == "from transcript"
    assert script.requests == []
    (call,) = h.calls
    assert call.source == "transcript" and call.usage == {}
    # The record is consumed: a second identical call is a miss.
    if strict:
        with pytest.raises(Divergence):
            await client.chat(node, MESSAGES, purpose="answer")
        assert script.requests == []
    else:
        assert await client.chat(node, MESSAGES, purpose="answer") == "live"
        assert len(script.requests) == 1
    writer.close()


async def test_strict_playback_miss_never_reaches_network_or_cache(tmp_path: Path) -> None:
    script = Script([ok("live")])
    events: list[Event] = []
    node, writer = make_node(tmp_path, events, Playback.from_events([], strict=True))
    h = Harness(node=node, events=events, sleeps=[], tmp_path=tmp_path, transcript=writer.path)
    with pytest.raises(Divergence, match="divergence at node 0: model_call"):
        await h.client(script, cache=True).chat(node, MESSAGES, purpose="answer")
    assert script.requests == []
    writer.close()
