"""Cost of the tree executor per node, against a bare asyncio baseline in the same run.

The baseline is the same computation (a complete tree of fan-out F and depth D
whose leaves answer at once) written as plain recursive ``asyncio.gather``
calls: no budgets, no single-flight table, no transcript. The ratio says what
the engine's bookkeeping and its incremental transcript cost per node.

    python benchmarks/engine_overhead.py [--fanout 4] [--depth 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from hch import Node, Workspace, hch_tree, run_question


class Leaf:
    name = "leaf"
    depth = 0

    async def answer(self, node: Node) -> str:
        return "1"


class Fan:
    name = "fan"

    def __init__(self, fanout: int) -> None:
        self.fanout = fanout

    async def __call__(self, ws: Workspace) -> str:
        answers = await ws.ask(*(f"{ws.question}.{i}" for i in range(self.fanout)))
        return str(sum(int(a) for a in answers))


async def baseline(question: str, depth: int, fanout: int) -> str:
    if depth == 0:
        return "1"
    answers = await asyncio.gather(*(baseline(f"{question}.{i}", depth - 1, fanout) for i in range(fanout)))
    return str(sum(int(a) for a in answers))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout", type=int, default=4)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    nodes = sum(args.fanout**d for d in range(args.depth + 1))

    base_times, engine_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            t0 = time.perf_counter()
            expected = await baseline("q", args.depth, args.fanout)
            base_times.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            result = await run_question(
                hch_tree(Fan(args.fanout), Leaf(), args.depth), "q", transcript=Path(tmp) / f"{r}.jsonl"
            )
            engine_times.append(time.perf_counter() - t0)
            assert result.answer == expected and result.nodes == nodes
            size = (Path(tmp) / f"{r}.jsonl").stat().st_size

    base, engine = min(base_times), min(engine_times)
    print(f"tree: fan-out {args.fanout}, depth {args.depth}, {nodes} nodes; transcript {size / 1e6:.1f} MB")
    print(f"baseline (plain asyncio.gather): {base * 1e3:8.1f} ms  {base / nodes * 1e6:7.1f} us/node")
    print(f"hch engine + transcript:         {engine * 1e3:8.1f} ms  {engine / nodes * 1e6:7.1f} us/node")
    print(f"ratio engine/baseline: {engine / base:.1f}x  (best of {args.repeat})")


if __name__ == "__main__":
    asyncio.run(main())
