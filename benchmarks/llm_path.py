"""The LLM path over real HTTP: hch against a bare HTTP client posting the same requests.

The tree is the one of issue 12 (Ought's ICE amplify recipe): branching 3, depth
5, worked by the real LLM overseer and base model, so every internal node makes a
``decompose`` and a ``combine`` call and every leaf an ``answer`` call: 485 calls,
each answered by the project's fault server after ``latency`` seconds. Its
critical path is 11 calls (0.55 s at 50 ms).

The floor is a bare ``httpx2`` client (the SDK's own transport, a pool of
``concurrency`` connections) that posts the very request bodies of the hch run,
read back from its transcript, to the same server, in the same tree order (a node's
calls before its subquestions, then its subquestions concurrently, then the rest)
and at the same concurrency: everything hch adds (the SDK, the engine, the
transcript, the cache) is the difference.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from benchmarks.measure import Figure, best, noise
from hch import hch_tree, run_question
from hch.llm.cache import CallCache
from hch.llm.client import LLMClient
from hch.llm.overseer import LLMBaseModel, LLMOverseer
from hch.llm.settings import LLMSettings
from hch.testing import BranchingPolicy, FaultConfig, FaultServer
from transcripts import read_transcript
from transcripts.events import Ask, ModelCall, NodeStart


@dataclass
class Plan:
    """The requests of one run, in tree order: what the floor posts."""

    before: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    after: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    children: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def calls(self) -> int:
        return sum(map(len, self.before.values())) + sum(map(len, self.after.values()))


def body_of(request: dict[str, Any]) -> bytes:
    """The JSON body the client sends for a recorded request (unset parameters left out)."""
    body = {"model": request["model"], "messages": request["messages"], "temperature": request["temperature"]}
    for name in ("max_tokens", "seed", "response_format"):
        if request[name] is not None:
            body[name] = request[name]
    return json.dumps(body).encode()


def plan_of(path: Path) -> Plan:
    plan = Plan()
    asked: set[str] = set()
    for event in read_transcript(path).events:
        if isinstance(event, NodeStart) and event.parent_id is not None:
            plan.children[event.parent_id].append(event.node_id)
        elif isinstance(event, Ask):
            asked.add(event.node_id)
        elif isinstance(event, ModelCall):
            (plan.after if event.node_id in asked else plan.before)[event.node_id].append(body_of(event.request))
    return plan


async def post_plan(plan: Plan, base_url: str, concurrency: int) -> float:
    """Post every request of ``plan`` in tree order with a bare HTTP client; the wall time."""
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer not-set"}
    async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        gate = asyncio.Semaphore(concurrency)
        url = base_url + "/chat/completions"

        async def post(body: bytes) -> None:
            async with gate:
                response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 200, response.text
            json.loads(response.content)["choices"][0]["message"]["content"]

        async def node(node_id: str) -> None:
            for body in plan.before[node_id]:
                await post(body)
            await asyncio.gather(*(node(child) for child in plan.children[node_id]))
            for body in plan.after[node_id]:
                await post(body)

        start = time.perf_counter()
        await node("0")
        return time.perf_counter() - start


async def hch_run(settings: LLMSettings, cache: CallCache | None, depth: int, path: Path) -> tuple[float, int]:
    """One run of the tree: its wall time (building the client included, closing it not) and its calls."""
    # Timed from the client's construction: the client starts loading the cache's index then.
    start = time.perf_counter()
    async with LLMClient(settings, cache=cache) as client:
        tree = hch_tree(LLMOverseer(client, max_subquestions=3), LLMBaseModel(client), depth)
        result = await run_question(tree, "Q", transcript=path, max_subquestions=3)
        wall = time.perf_counter() - start
    return wall, result.calls


Runner = Callable[[], Awaitable[float]]


async def measure(*, depth: int = 5, latency: float = 0.05, concurrency: int = 32, repeat: int = 3) -> list[Figure]:
    fanout = (3,) * depth
    times: dict[str, list[float]] = defaultdict(list)
    calls = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        FaultServer(FaultConfig(latency_s=latency), answer=BranchingPolicy(fanout=fanout)) as server,
    ):
        root = Path(tmp)
        settings = LLMSettings(
            base_url=server.base_url, model=server.model, concurrency=concurrency, api_key_env="HCH_BENCH_NO_KEY"
        )
        no_cache = settings.model_copy(update={"cache": False})
        _, calls = await hch_run(no_cache, None, depth, root / "warmup.jsonl")  # imports, connections, plan
        plan = plan_of(root / "warmup.jsonl")
        assert plan.calls == calls, (plan.calls, calls)
        for r in range(repeat):
            # Interleaved, so that load from other processes falls on floor and figures alike.
            times["floor"].append(await post_plan(plan, server.base_url, concurrency))
            times["no cache"].append((await hch_run(no_cache, None, depth, root / f"n{r}.jsonl"))[0])
            cold = CallCache(root / f"cache{r}")
            times["cold"].append((await hch_run(settings, cold, depth, root / f"c{r}.jsonl"))[0])
            # A rerun is another process: a fresh cache on the same directory, which loads its index.
            warm = CallCache(root / f"cache{r}")
            times["warm"].append((await hch_run(settings, warm, depth, root / f"w{r}.jsonl"))[0])
            warm.close()
    floor = best(times["floor"])
    bound = (2 * depth + 1) * latency
    shape = f"depth {depth}, {calls} calls at {latency * 1000:g} ms, concurrency {concurrency}"
    floor_text = f"{floor:.3f} s bare HTTP ({noise(times['floor'])})"
    no_cache_s, cold_s, warm_s = best(times["no cache"]), best(times["cold"]), best(times["warm"])
    return [
        Figure(
            f"LLM path, no cache ({shape}; critical path {bound:.2f} s)",
            f"{no_cache_s:.3f} s ({noise(times['no cache'])})",
            floor_text,
            no_cache_s / floor,
            "<= 1.3",
            no_cache_s / floor <= 1.3,
        ),
        Figure(
            "LLM path, cold cache",
            f"{cold_s:.3f} s ({noise(times['cold'])})",
            f"{no_cache_s:.3f} s no cache (same run)",
            cold_s / no_cache_s,
            "<= 1.1",
            cold_s / no_cache_s <= 1.1,
        ),
        Figure(
            "LLM path, warm cache",
            f"{calls / warm_s:,.0f} calls/s ({warm_s:.3f} s; {noise(times['warm'])})",
            floor_text,
            warm_s / floor,
            ">= 10,000 calls/s",
            calls / warm_s >= 10_000,
        ),
    ]
