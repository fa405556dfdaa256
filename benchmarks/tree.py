"""An in-process tree against its critical-path bound.

A complete tree of branching ``b`` and depth ``d`` whose every model call takes
``latency`` seconds (an ``asyncio.sleep``: a stand-in for a model): each internal
node makes a "decompose" call, asks its ``b`` subquestions, then makes a "combine"
call; each leaf makes one call. With unbounded concurrency the run can take no less
than its critical path, ``(2d + 1) * latency``: that bound is the floor, and
bound / wall says how close the engine (executor, budgets, single-flight, the
transcript of every node) gets to it. Branching 10, depth 5 is 111,111 nodes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import Figure, best, noise
from hch import Workspace, hch_tree, run_question
from hch.testing import CountingLeaf


@dataclass
class SlowFanOut:
    """Works a node like an LLM overseer would, with two calls of ``latency`` seconds around its subquestions."""

    n: int
    latency: float
    name: str = "slow-fan-out"

    async def __call__(self, ws: Workspace) -> str:
        await asyncio.sleep(self.latency)  # decompose
        answers = await ws.ask(*(f"{ws.question}.{i}" for i in range(self.n)))
        await asyncio.sleep(self.latency)  # combine
        return str(sum(int(a) for a in answers))


async def one_run(branching: int, depth: int, latency: float, path: Path) -> tuple[float, int]:
    tree = hch_tree(SlowFanOut(branching, latency), CountingLeaf(delay=latency), depth)
    start = time.perf_counter()
    result = await run_question(tree, "q", transcript=path, max_subquestions=branching)
    return time.perf_counter() - start, result.nodes


async def measure(*, branching: int = 10, depth: int = 5, latency: float = 0.05, repeat: int = 2) -> list[Figure]:
    times: list[float] = []
    nodes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            wall, nodes = await one_run(branching, depth, latency, Path(tmp) / f"{r}.jsonl")
            (Path(tmp) / f"{r}.jsonl").unlink()
            times.append(wall)
    bound = (2 * depth + 1) * latency
    wall = best(times)
    return [
        Figure(
            f"in-process tree ({nodes:,} nodes, {latency * 1000:g} ms per call)",
            f"{wall:.3f} s ({noise(times)}); bound/wall {bound / wall:.2f}",
            f"{bound:.3f} s critical path",
            wall / bound,
            "bound/wall >= 0.9",
            bound / wall >= 0.9,
        )
    ]
