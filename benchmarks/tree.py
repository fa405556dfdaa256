"""An in-process tree against its critical-path bound and against bare asyncio.

A complete tree of branching ``b`` and depth ``d`` whose every model call takes
``latency`` seconds (an ``asyncio.sleep``: a stand-in for a model): each internal
node makes a "decompose" call, asks its ``b`` subquestions, then makes a "combine"
call; each leaf makes one call. Branching 10, depth 5 is 111,111 nodes.

Two floors, measured in the same run:

- the critical path, ``(2d + 1) * latency``: what unbounded concurrency and zero
  CPU would give. bound / wall says how close the run gets to it.
- the same tree in bare asyncio (recursive coroutines, the same sleeps, children
  in a TaskGroup as hch's are, the collector tuned as hch tunes it for a run):
  what the interpreter and the event loop alone cost per node. hch's wall over
  it is the engine's own cost (executor, budgets, single-flight, admission, the
  transcript of every node). At 111k nodes even bare asyncio is bound by CPU,
  not by the critical path, on a small machine.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import Figure, best, noise
from hch import Workspace, hch_tree, run_question
from hch.collector import collector_tuned
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


@dataclass(frozen=True)
class Timing:
    """One run: its wall time, the CPU time of the whole process (every thread) and its nodes."""

    wall: float
    cpu: float
    nodes: int


async def one_run(branching: int, depth: int, latency: float, path: Path) -> Timing:
    tree = hch_tree(SlowFanOut(branching, latency), CountingLeaf(delay=latency), depth)
    start, cpu = time.perf_counter(), time.process_time()
    result = await run_question(tree, "q", transcript=path, max_subquestions=branching)
    return Timing(time.perf_counter() - start, time.process_time() - cpu, result.nodes)


async def bare_node(branching: int, depth: int, latency: float) -> int:
    """The same node in bare asyncio: the same calls, no engine. Returns the nodes of its subtree."""
    await asyncio.sleep(latency)  # decompose, or the leaf's one call
    if depth == 0:
        return 1
    async with asyncio.TaskGroup() as tg:
        children = [tg.create_task(bare_node(branching, depth - 1, latency)) for _ in range(branching)]
    await asyncio.sleep(latency)  # combine
    return 1 + sum(child.result() for child in children)


async def bare_run(branching: int, depth: int, latency: float) -> Timing:
    with collector_tuned():  # as run_question tunes it: the floor gets the same help
        start, cpu = time.perf_counter(), time.process_time()
        nodes = await bare_node(branching, depth, latency)
        return Timing(time.perf_counter() - start, time.process_time() - cpu, nodes)


def _per_node_us(runs: list[Timing]) -> float:
    """CPU per node of the fastest run, in microseconds: steadier than wall time on a loaded machine."""
    return min(r.cpu for r in runs) / runs[0].nodes * 1e6


async def measure(*, branching: int = 10, depth: int = 5, latency: float = 0.05, repeat: int = 2) -> list[Figure]:
    runs: list[Timing] = []
    bare_runs: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):  # interleaved, so load from elsewhere falls on both alike
            runs.append(await one_run(branching, depth, latency, Path(tmp) / f"{r}.jsonl"))
            (Path(tmp) / f"{r}.jsonl").unlink()
            bare_runs.append(await bare_run(branching, depth, latency))
            assert bare_runs[-1].nodes == runs[-1].nodes, (bare_runs[-1], runs[-1])
    nodes = runs[0].nodes
    bound = (2 * depth + 1) * latency
    times = [r.wall for r in runs]
    bare_times = [r.wall for r in bare_runs]
    wall = best(times)
    bare = best(bare_times)
    name = f"in-process tree ({nodes:,} nodes, {latency * 1000:g} ms per call)"
    return [
        Figure(
            name,
            f"{wall:.3f} s ({noise(times)}); bound/wall {bound / wall:.2f}",
            f"{bound:.3f} s critical path",
            wall / bound,
            "bound/wall >= 0.9",
            bound / wall >= 0.9,
        ),
        Figure(
            f"{name}, against bare asyncio",
            f"{wall:.3f} s; CPU {_per_node_us(runs):.0f} us a node",
            f"{bare:.3f} s bare asyncio ({noise(bare_times)}); CPU {_per_node_us(bare_runs):.0f} us a node;"
            f" its bound/wall {bound / bare:.2f}",
            wall / bare,
            "ratio <= 2",
            wall / bare <= 2,
        ),
    ]
