"""Trees that finish through rate limiting: 20 depth-3 `hch run`s against a faulty endpoint.

The project's fault server (in this process) answers each chat request with a
429 carrying ``Retry-After`` (20%), a 500 (10%), a malformed 200 body (5%), or
a reply from a stand-in model that follows the LLM overseer's protocol (three
subquestions per node: 40 nodes, 53 calls a tree). Each tree is a real `hch run`
subprocess with the default retry settings and no cache, a few at a time. It
prints how many trees finished, and requests per node and per call (1.0 would
be an endpoint that never fails).

    python benchmarks/rate_limits.py [--trees 20] [--retry-after 1] [--parallel 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hch.testing import FaultConfig, FaultServer

ROOT = Path(__file__).resolve().parents[1]


def run_tree(server: FaultServer, home: Path, index: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
    env.update(HCH_HOME=str(home), OPENAI_API_KEY="sk-benchmark-not-a-secret")
    question = f"Tree {index}: how many legs do three spiders and two ants have?"
    args = [question, "--depth", "3", "--base-url", server.base_url, "--model", server.model, "--no-cache", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"}
    report = json.loads(proc.stdout)
    return {"ok": True, "nodes": report["nodes"], "calls": report["network_calls"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--retry-after", type=float, default=1.0, help="seconds sent in each 429's Retry-After")
    parser.add_argument("--parallel", type=int, default=4, help="trees running at once")
    args = parser.parse_args()
    config = FaultConfig(p429=0.2, retry_after_s=args.retry_after, p500=0.1, p_malformed=0.05, answer="protocol")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FaultServer(config) as server:
        with ThreadPoolExecutor(args.parallel) as pool:
            results = list(pool.map(lambda i: run_tree(server, Path(tmp), i), range(args.trees)))
        counters = server.counters()
    wall = time.perf_counter() - start
    done = [r for r in results if r["ok"]]
    nodes = sum(int(str(r["nodes"])) for r in done)
    calls = sum(int(str(r["calls"])) for r in done)
    requests = counters["requests"]
    print(
        f"fault server: 20% 429 (Retry-After {args.retry_after:g}s), 10% 500, 5% malformed; "
        f"{args.trees} depth-3 trees, {args.parallel} at a time, default retry settings, no cache"
    )
    print(f"trees finished: {len(done)} of {args.trees}   wall {wall:.1f}s")
    for r in results:
        if not r["ok"]:
            print(f"  failed: {r['error']}")
    print(f"served: {dict(sorted(counters['by_outcome'].items()))}")
    if done and len(done) == len(results):
        print(f"requests per node: {requests / nodes:.2f}   requests per call: {requests / calls:.2f}")
        print(f"({requests} requests, {calls} calls, {nodes} nodes)")


if __name__ == "__main__":
    main()
