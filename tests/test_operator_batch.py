"""Running many questions at once: own transcripts, specs in headers, one shared client, resume."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hch.app.evaluate import instances
from hch.app.spec import RunSpec, TaskSpec, build_model
from hch.llm.settings import LLMSettings
from hch.node import Node
from hch.protocols import Model
from hch.tasks import find_task
from hch.testing.fault_server import FaultConfig, FaultServer
from operators.batch import open_batch, run_batch
from tests.audit_helpers import BranchingPolicy, hch
from transcripts.reader import read_transcript
from transcripts.verify import verify_transcript


def task_specs(n: int, task: str = "wildcard", depth: int = 4) -> list[RunSpec]:
    cases = instances(find_task(task), n, 5, 16)
    return [RunSpec(question=c.question, depth=depth, task=TaskSpec(name=task, facts=c.facts)) for c in cases]


async def test_every_question_gets_its_own_replayable_transcript(tmp_path: Path, hch_home: Path) -> None:
    specs = task_specs(30)
    results = await run_batch(specs, tmp_path / "runs", settings={"operator": "test"})
    assert [r.index for r in results] == list(range(30))
    for spec, r in zip(specs, results, strict=True):
        assert r.result is not None and r.error is None
        assert r.result.answer == find_task("wildcard").solve(spec.task.facts, spec.question)  # type: ignore[union-attr]
        transcript = read_transcript(r.transcript)
        assert transcript.header.settings["spec"] == spec.model_dump(mode="json")
        assert transcript.header.settings["operator"] == "test"
        assert verify_transcript(r.transcript).ok
    proc = hch("replay", str(results[7].transcript), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["identical"] is True


@dataclass
class InFlight:
    """A server answer policy that counts requests in flight (and holds each briefly so they overlap)."""

    inner: BranchingPolicy = field(default_factory=lambda: BranchingPolicy(fanout=(2,)))
    now: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.02)
        with self.lock:
            self.now -= 1
        return self.inner(messages)


async def test_llm_questions_share_one_client_and_run_concurrently(tmp_path: Path) -> None:
    policy = InFlight()
    with FaultServer(FaultConfig(), answer=policy) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, concurrency=3, cache=False, max_attempts=1)
        specs = [
            RunSpec(question=f"Q{i}", depth=1, overseer="llm", llm=settings, structured_output="json_schema")
            for i in range(8)
        ]
        async with open_batch(specs) as batch:
            assert batch.client is not None
            results = await run_batch(specs, tmp_path / "runs", batch=batch)
            network = batch.client.counts["network"]
        chat = server.counters()["chat_requests"]
    assert all(r.result is not None for r in results), [r.error for r in results]
    # Each depth-1 question: decompose, two leaves, combine. All of them through the one client.
    assert network == chat == 8 * 4
    assert sum(r.result.network_calls for r in results if r.result) == chat
    # The client's semaphore is the limit: reached across runs, never exceeded.
    assert policy.most == 3


@dataclass
class Counting:
    """Wraps a model to count how many runs are answering their root at once."""

    inner: Model
    state: dict[str, int]

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def level(self) -> int:
        return self.inner.level

    async def answer(self, node: Node) -> str:
        import asyncio

        self.state["now"] += 1
        self.state["most"] = max(self.state["most"], self.state["now"])
        await asyncio.sleep(0.005)
        try:
            return await self.inner.answer(node)
        finally:
            self.state["now"] -= 1


async def test_open_runs_are_bounded_for_thousands_of_programmatic_questions(tmp_path: Path) -> None:
    state = {"now": 0, "most": 0}
    specs = task_specs(40, "permutation", depth=6)
    results = await run_batch(
        specs,
        tmp_path / "runs",
        build=lambda spec, llm: Counting(build_model(spec, llm=llm), state),
        max_open_runs=5,
    )
    assert all(r.result is not None for r in results)
    assert state["most"] == 5  # concurrent up to the bound on open transcripts, not one after another
    assert len(list((tmp_path / "runs").glob("*.jsonl"))) == 40


async def test_resume_reads_finished_runs_back_and_resumes_cut_ones(tmp_path: Path) -> None:
    specs = task_specs(6, "assignments", depth=8)
    folder = tmp_path / "runs"
    first = await run_batch(specs, folder)
    cut = first[2].transcript
    text = cut.read_bytes()
    cut.write_bytes(text[: len(text) // 2])  # killed mid-run
    again = await run_batch(specs, folder, resume=True)
    assert [r.reused for r in again] == [True, True, False, True, True, True]
    assert [r.answer for r in again] == [r.answer for r in first]
    assert (folder / "00002.cut.jsonl").read_bytes() == text[: len(text) // 2]  # nothing lost
    resumed = read_transcript(cut)
    assert "resumed_from" in resumed.header.settings
    assert resumed.header.settings["spec"] == specs[2].model_dump(mode="json")
    assert verify_transcript(cut).ok


async def test_a_batch_runs_each_spec_under_its_own_bounds(tmp_path: Path) -> None:
    bounds = {"budget": 40, "token_budget": 500, "max_subquestions": 3}
    specs = [s.model_copy(update=bounds) for s in task_specs(2)]
    for r in await run_batch(specs, tmp_path / "runs"):
        engine = read_transcript(r.transcript).header.settings  # the bounds the engine ran under
        assert {name: engine[name] for name in bounds} == bounds
