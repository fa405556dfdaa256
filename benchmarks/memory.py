"""Memory per node of a run: peak RSS of trees of about 1k, 10k and 100k nodes.

Each size runs in a fresh subprocess (so one size's garbage does not pad the
next), as a complete tree of fan-out 10 whose overseers ask all their
subquestions in one batch and whose leaves answer after ``--delay`` seconds
(so the whole tree is alive at once, as it is when calls are slow). Each
subprocess prints its RSS before the run (the interpreter and the imports: the
floor) and its peak RSS, with the transcript written to a temporary folder:

    python benchmarks/memory.py [--sizes 3,4,5] [--delay 0.05]

"per node" is (peak - floor) / nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

FANOUT = 10


def _rss_mb() -> float:
    """Current resident set size in MB (Linux: from /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def measure(depth: int, delay: float) -> dict[str, float]:
    """Run one tree in this process and report its memory (called in the subprocess)."""
    from hch import Node, Workspace, hch_tree, run_question

    class Leaf:
        name = "leaf"
        level = 0

        async def answer(self, node: Node) -> str:
            await asyncio.sleep(delay)
            return "1"

    class Fan:
        name = "fan"

        async def __call__(self, ws: Workspace) -> str:
            answers = await ws.ask(*(f"{ws.question}.{i}" for i in range(FANOUT)))
            return str(sum(int(a) for a in answers))

    nodes = sum(FANOUT**d for d in range(depth + 1))
    floor = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(
            run_question(hch_tree(Fan(), Leaf(), depth), "q", transcript=Path(tmp) / "run.jsonl", max_subquestions=10)
        )
    assert result.nodes == nodes and result.answer == str(FANOUT**depth), (result.nodes, result.answer)
    peak = _peak_mb()
    return {"nodes": nodes, "floor_mb": floor, "peak_mb": peak, "kb_per_node": (peak - floor) * 1e3 / nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,4,5", help="tree depths at fan-out 10 (3,4,5: 1k, 11k, 111k nodes)")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each leaf takes to answer")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.delay)))
        return
    print(f"complete trees of fan-out {FANOUT}, leaves answering after {args.delay:g}s; one subprocess per size")
    print(f"{'nodes':>8}  {'floor MB':>9}  {'peak MB':>8}  {'KB/node':>8}")
    for depth in (int(d) for d in args.sizes.split(",")):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(depth), "--delay", str(args.delay)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{row['nodes']:>8}  {row['floor_mb']:>9.1f}  {row['peak_mb']:>8.1f}  {row['kb_per_node']:>8.2f}")


if __name__ == "__main__":
    main()
