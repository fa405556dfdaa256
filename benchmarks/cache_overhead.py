"""What the call cache costs on a cold run, and saves on a warm one.

A tree whose 484 leaves each make one model call runs against the project's
local OpenAI-compatible test server (no latency, no faults) three times in the
same process: without the cache, with an empty cache, and again with the now
full cache. The cold/no-cache ratio is the cache's overhead (Ought's ICE was
16x slower with its cache on a cold 485-call tree); the warm/no-cache ratio
what it saves. The cache's SQLite I/O runs in worker threads, so it must not
serialise the calls.

    python benchmarks/cache_overhead.py [--fanout 22] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from hch import hch_tree, run_question
from hch.llm.cache import CallCache
from hch.llm.client import LLMClient
from hch.llm.settings import LLMSettings
from hch.testing import FanOut, FaultConfig, FaultServer, LLMLeaf


async def one_run(settings: LLMSettings, cache: CallCache | None, fanout: int, path: Path) -> tuple[float, int]:
    async with LLMClient(settings, cache=cache) as client:
        start = time.perf_counter()
        result = await run_question(
            hch_tree(FanOut(fanout), LLMLeaf(client), 2), "q", transcript=path, max_subquestions=fanout
        )
        return time.perf_counter() - start, result.network_calls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout", type=int, default=22)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FaultServer(FaultConfig()) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, concurrency=args.concurrency)
        no_cache, n0 = await one_run(settings.model_copy(update={"cache": False}), None, args.fanout, Path(tmp) / "a")
        cache = CallCache(Path(tmp) / "cache")
        cold, n1 = await one_run(settings, cache, args.fanout, Path(tmp) / "b")
        warm, n2 = await one_run(settings, cache, args.fanout, Path(tmp) / "c")
        cache.close()
    calls = args.fanout**2
    print(f"tree: {calls} leaf model calls, concurrency {args.concurrency}, local test server")
    print(f"no cache:   {no_cache:6.2f} s  ({n0} requests)")
    print(f"cold cache: {cold:6.2f} s  ({n1} requests)  ratio to no cache {cold / no_cache:.2f}x")
    print(f"warm cache: {warm:6.2f} s  ({n2} requests)  ratio to no cache {warm / no_cache:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
