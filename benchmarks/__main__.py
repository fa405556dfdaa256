"""``python -m benchmarks``: run the suite and print one table (see benchmarks/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from benchmarks import llm_path, replay_speed, startup, tree
from benchmarks.measure import Figure, table

SUITES = ("startup", "llm", "replay", "tree")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=SUITES, action="append", help="run only these (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure and its floor (best is shown)")
    parser.add_argument("--quick", action="store_true", help="smaller trees: a smoke test, not the figures")
    args = parser.parse_args()
    chosen = args.only or list(SUITES)
    quick = args.quick
    figures: list[Figure] = []
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, load {load:.1f}")
    if "startup" in chosen:
        figures += startup.measure(repeat=max(args.repeat, 5))
    if "llm" in chosen:
        figures += asyncio.run(llm_path.measure(depth=3 if quick else 5, repeat=args.repeat))
    if "replay" in chosen:
        figures += replay_speed.measure(depth=4 if quick else 6, repeat=args.repeat)
    if "tree" in chosen:
        figures += asyncio.run(tree.measure(branching=4 if quick else 10, repeat=max(1, args.repeat - 1)))
    print(table(figures))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
