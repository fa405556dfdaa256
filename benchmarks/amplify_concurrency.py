"""hch amplify over many questions against a slow endpoint: wall time against the critical-path bound.

200 free-text questions, each a depth-1 tree (the LLM overseer decomposes into
two subquestions, a copy of M answers each, the overseer combines: 4 calls,
3 of them on the critical path), against the project's fault server answering
every call after ``--latency`` seconds. With the client's call concurrency C,
no schedule can beat

    bound = max(calls * latency / C, 3 * latency)

Measured in the same run: the amplify wall time (runs, transcripts, the
dataset sealed and verified), and a floor: the same number of calls made
straight through one LLMClient with asyncio.gather (no tree, no transcript).
Printed as ratios, not asserted.

    python benchmarks/amplify_concurrency.py [--questions 200] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

FANOUT = 2


def policy(messages: list[dict[str, Any]]) -> str:
    """Replies in the LLM overseer's JSON protocol: the root asks two subquestions, the rest answer."""
    system = str(messages[0].get("content", "")) if messages else ""
    found = re.findall(r"^Question: (.*)$", str(messages[-1].get("content", "")), re.MULTILINE)
    question = found[-1].strip() if found else ""
    if "ask simpler subquestions" in system and "/" not in question:
        return json.dumps({"action": "ask", "subquestions": [f"{question}/{i}" for i in range(FANOUT)]})
    if "answers are below" in system:
        return json.dumps({"answer": f"combined({question})"})
    return json.dumps({"answer": f"ans({question})"})


async def floor(settings: Any, calls: int) -> float:
    """``calls`` chat calls through one client under the same limit, no engine: the best a client does."""
    from hch.budget import Budget
    from hch.context import RunContext
    from hch.llm.client import LLMClient
    from hch.node import Node
    from transcripts.events import Header
    from transcripts.writer import TranscriptWriter

    with tempfile.TemporaryDirectory() as tmp:
        header = Header(run_id="f", created="", hch_version="", question="")
        writer = TranscriptWriter(Path(tmp) / "floor.jsonl", header)
        node = Node("0", None, "q", 0, None, Budget(None), RunContext(writer=writer, max_subquestions=1))
        async with LLMClient(settings, environ={}) as client:
            start = time.perf_counter()
            messages = [[{"role": "user", "content": f"Question: f{i}"}] for i in range(calls)]
            await asyncio.gather(*(client.chat(node, m, purpose="floor") for m in messages))
            elapsed = time.perf_counter() - start
        writer.close()
    return elapsed


async def amplify_wall(settings: Any, questions: int) -> tuple[float, int, int]:
    from hch.app.spec import RunSpec
    from operators.batch import open_batch
    from operators.imitative.amplify import amplify, dataset_writer
    from operators.paths import dataset_dir

    specs = [RunSpec(question=f"Q{i}", depth=1, overseer="llm", llm=settings) for i in range(questions)]
    writer = dataset_writer(dataset_dir("bench"), task=None, round=None, settings={})
    start = time.perf_counter()
    async with open_batch(specs) as batch:
        amplified = await amplify(specs, writer, batch=batch)
        assert batch.client is not None
        calls = batch.client.counts["network"]
    elapsed = time.perf_counter() - start
    return elapsed, calls, amplified.dataset.manifest.examples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from hch.llm.settings import LLMSettings
    from hch.testing import FaultConfig, FaultServer

    with tempfile.TemporaryDirectory() as home:
        os.environ["HCH_HOME"] = home
        with FaultServer(FaultConfig(latency_s=args.latency), answer=policy) as server:
            settings = LLMSettings(
                base_url=server.base_url, model=server.model, concurrency=args.concurrency, cache=False
            )
            wall, calls, examples = await amplify_wall(settings, args.questions)
            base = await floor(settings, calls)
    bound = max(calls * args.latency / args.concurrency, 3 * args.latency)
    print(f"amplify: {args.questions} questions, {examples} examples, {calls} calls, concurrency {args.concurrency}")
    print(f"  critical-path bound  {bound:7.3f} s   (max(calls x latency / C, 3 x latency))")
    print(f"  floor (bare client)  {base:7.3f} s   {base / bound:5.2f} x bound")
    print(f"  amplify wall time    {wall:7.3f} s   {wall / bound:5.2f} x bound, {wall / base:5.2f} x floor")


if __name__ == "__main__":
    asyncio.run(main())
