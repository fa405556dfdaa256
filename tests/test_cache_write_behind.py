"""The call cache writes behind: a stored entry is found at once by its own process, is on
disk once the cache closes, and is written even when the run is cancelled or the process
ends without closing it (Ctrl-C, an error)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from hch import hch_tree, run_question
from hch.llm.cache import CallCache
from hch.llm.client import LLMClient
from hch.llm.overseer import LLMBaseModel, LLMOverseer
from hch.llm.settings import LLMSettings
from hch.testing import BranchingPolicy, FaultConfig, FaultServer
from transcripts import read_transcript
from transcripts.events import ModelCall

ROOT = Path(__file__).resolve().parents[1]


def entry(i: int) -> dict[str, Any]:
    return {"request": {"i": i}, "response": f"r{i}", "usage": {"total_tokens": i}}


async def on_disk(path: Path, keys: list[str]) -> dict[str, dict[str, Any] | None]:
    """What a fresh cache (another run, another process) reads for ``keys``."""
    other = CallCache(path)
    try:
        return {key: await other.get(key) for key in keys}
    finally:
        await other.aclose()


def gate_writer(cache: CallCache, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the cache's writer before it stores anything, until the returned event is set."""
    opened = threading.Event()
    store = cache._store

    def held(batch: list[tuple[str, dict[str, Any]]]) -> None:
        assert opened.wait(30), "the test never released the writer"
        store(batch)

    monkeypatch.setattr(cache, "_store", held)
    return opened


async def test_an_entry_is_found_by_its_process_before_it_is_on_disk_and_written_by_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cache"
    cache = CallCache(path)
    release = gate_writer(cache, monkeypatch)
    keys = [f"k{i}" for i in range(5)]
    for i, key in enumerate(keys):
        cache.put(key, entry(i))
    assert await on_disk(path, keys) == dict.fromkeys(keys)  # nothing written yet
    # Read your writes: the run finds them (before and after its index of the disk is loaded).
    assert await cache.response("k0") == "r0"
    assert await cache.get("k1") == entry(1)
    assert cache._loader is not None
    cache._loader.join()
    assert [await cache.response(key) for key in keys] == [f"r{i}" for i in range(5)]
    assert await cache.response("k9") is None

    release.set()
    await cache.aclose()
    assert await on_disk(path, keys) == {key: entry(i) for i, key in enumerate(keys)}


async def test_a_value_the_disk_refuses_is_logged_and_the_rest_of_its_batch_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache"
    cache = CallCache(path)
    release = gate_writer(cache, monkeypatch)
    cache.put("a", entry(1))
    cache.put("bad", {"response": "x", "usage": float("nan")})  # not JSON: the disk refuses it
    cache.put("b", entry(2))
    release.set()  # all three are in one batch (one transaction)
    with caplog.at_level(logging.WARNING, logger="hch.llm"):
        await cache.aclose()
    assert await on_disk(path, ["a", "bad", "b"]) == {"a": entry(1), "bad": None, "b": entry(2)}
    assert any("could not store bad" in r.getMessage() for r in caplog.records)


async def test_flush_and_stats_count_what_was_put(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "cache")
    for i in range(300):
        cache.put(f"k{i}", entry(i))
    assert (await cache.stats()).entries == 300
    cache.put("k0", entry(7))  # replacing an entry
    await asyncio.to_thread(cache.flush)
    assert (await on_disk(tmp_path / "cache", ["k0"]))["k0"] == entry(7)
    assert await cache.clear() == 300
    await cache.aclose()


@pytest.mark.parametrize("ending", ["error", "ctrl-c"])
def test_a_process_that_never_closes_its_cache_still_writes_every_entry(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from hch.llm.cache import CallCache

        async def main():
            cache = CallCache({str(path)!r})
            for i in range(500):
                cache.put(f"k{{i}}", {{"request": {{"i": i}}, "response": f"r{{i}}", "usage": {{}}}})
            print("put", flush=True)
            if {ending!r} == "error":
                raise RuntimeError("the run failed")
            await asyncio.sleep(60)  # interrupted

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "put\n"
    if ending == "ctrl-c":
        os.kill(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert ("RuntimeError" if ending == "error" else "KeyboardInterrupt") in stderr

    async def read() -> dict[str, dict[str, Any] | None]:
        return await on_disk(path, [f"k{i}" for i in range(500)])

    found = asyncio.run(read())
    assert found == {f"k{i}": {"request": {"i": i}, "response": f"r{i}", "usage": {}} for i in range(500)}


async def test_a_cancelled_run_leaves_every_answer_it_received_in_the_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    transcript = tmp_path / "run.jsonl"
    with FaultServer(FaultConfig(latency_s=0.01), answer=BranchingPolicy(fanout=(3, 3, 3))) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, concurrency=4, api_key_env="HCH_NO_KEY")

        enough = asyncio.Event()

        class Watched(LLMClient):
            def _event(self, *args: Any, **kwargs: Any) -> ModelCall:
                event = super()._event(*args, **kwargs)
                if self.counts["network"] >= 12:
                    enough.set()
                return event

        async def run() -> None:
            async with Watched(settings, cache=CallCache(cache_dir)) as client:
                tree = hch_tree(LLMOverseer(client, max_subquestions=3), LLMBaseModel(client), 3)
                task = asyncio.create_task(run_question(tree, "Q", transcript=transcript, max_subquestions=3))
                await enough.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        await run()
    answered = [e for e in read_transcript(transcript).events if isinstance(e, ModelCall) and e.response is not None]
    assert len(answered) >= 12
    found = await on_disk(cache_dir, [call.request_hash for call in answered])
    for call in answered:
        stored = found[call.request_hash]
        assert stored is not None and stored["response"] == call.response and stored["request"] == call.request


async def test_entries_put_within_the_gathering_window_are_stored_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    store = CallCache._store

    def recording(self: CallCache, batch: list[tuple[str, dict[str, Any]]]) -> None:
        batches.append([key for key, _ in batch])
        store(self, batch)

    monkeypatch.setattr(CallCache, "_store", recording)
    monkeypatch.setattr("hch.llm.cache.WRITER_GATHER_S", 5.0)  # far longer than this test's pauses
    cache = CallCache(tmp_path / "cache")
    for i in range(3):
        cache.put(f"k{i}", entry(i))
        await asyncio.sleep(0.02)  # a writer woken by each entry has stored it by now
    assert batches == []  # still gathering
    await asyncio.to_thread(cache.flush)  # someone waits for the disk: stored at once, together
    assert batches == [["k0", "k1", "k2"]]
    assert await on_disk(tmp_path / "cache", ["k0", "k2"]) == {"k0": entry(0), "k2": entry(2)}
    await cache.aclose()
