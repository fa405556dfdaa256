"""The tree executor: bounds, single-flight reuse, cycle refusal, concurrency, cancellation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hch import BoundExceeded, Node, Workspace, hch_tree, run_question
from hch.testing import CountingLeaf, RandomOverseer
from transcripts import build_tree, read_transcript
from transcripts.events import Ask, NodeAnswer, NodeError, NodeStart, Refusal, Reuse, RunEnd


@dataclass
class Scripted:
    """Asks fixed batches of subquestions, in order, then sums the numeric answers."""

    batches: list[list[str]]
    name: str = "scripted"
    seen: list[list[str]] = field(default_factory=list)

    async def __call__(self, ws: Workspace) -> str:
        total = 0
        for batch in self.batches if ws.node.depth == 0 else []:
            answers = await ws.ask(*batch)
            self.seen.append(answers)
            total += sum(int(a) for a in answers if a.isdigit())
        return str(total)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(0, 4),
    budget=st.one_of(st.none(), st.integers(1, 60)),
    max_subquestions=st.integers(1, 6),
    fanout=st.integers(1, 5),
    question=st.text(alphabet="abcxyz", min_size=1, max_size=6),
)
async def test_bounds_are_never_exceeded(
    tmp_path: Path, depth: int, budget: int | None, max_subquestions: int, fanout: int, question: str
) -> None:
    path = tmp_path / f"run-{depth}-{budget}-{max_subquestions}-{fanout}-{question}.jsonl"
    path.unlink(missing_ok=True)
    model = hch_tree(RandomOverseer(fanout=fanout), CountingLeaf(), depth)
    result = await run_question(model, question, transcript=path, budget=budget, max_subquestions=max_subquestions)

    events = read_transcript(path).events
    starts = [e for e in events if isinstance(e, NodeStart)]
    answers = {e.node_id: e for e in events if isinstance(e, NodeAnswer)}
    by_id = {e.node_id: e for e in starts}
    # The whole run spends no more than its budget, and the count it reports is the nodes it worked.
    assert result.spent == len(starts)
    if budget is not None:
        assert len(starts) <= budget
    for start in starts:
        # Depth: levels go down by exactly one per generation and never below zero.
        assert 0 <= start.level <= depth
        assert start.node_id.count(".") == depth - start.level
        if start.parent_id is not None:
            assert by_id[start.parent_id].level == start.level + 1
            parent_budget = by_id[start.parent_id].budget
            if parent_budget is not None:
                assert start.budget is not None and start.budget <= parent_budget - 1
        # Each subtree spent no more than it was given.
        if start.budget is not None:
            assert answers[start.node_id].spent <= start.budget
    # No node posed more subquestions than the per-node cap.
    posed: dict[str, int] = {}
    for e in events:
        if isinstance(e, Ask):
            posed[e.node_id] = posed.get(e.node_id, 0) + len(e.questions)
    assert all(n <= max_subquestions for n in posed.values())


async def test_a_node_without_budget_is_told_and_answers_alone(tmp_path: Path) -> None:
    observed: list[tuple[int | None, bool]] = []

    class Greedy:
        name = "greedy"

        async def __call__(self, ws: Workspace) -> str:
            observed.append((ws.budget_left, ws.can_ask(1)))
            if not ws.can_ask(2):
                with pytest.raises(BoundExceeded, match="budget left"):
                    await ws.ask("a", "b")
                return "alone"
            return "|".join(await ws.ask("a", "b"))

    result = await run_question(hch_tree(Greedy(), CountingLeaf(), 2), "q", transcript=tmp_path / "t.jsonl", budget=3)
    # Root keeps 2 of 3 after its own call and splits them: each child gets 1,
    # which is spent on the child itself, so the children must answer alone.
    assert result.answer == "alone|alone"
    assert observed[0] == (2, True)
    assert observed[1:] == [(0, False), (0, False)]
    assert result.spent == 3


async def test_cap_on_subquestions_is_enforced(tmp_path: Path) -> None:
    over = Scripted([["a", "b", "c"]])
    with pytest.raises(BoundExceeded, match="asked 3 subquestion"):
        await run_question(hch_tree(over, CountingLeaf(), 1), "q", transcript=tmp_path / "t.jsonl", max_subquestions=2)
    # The failure is on disk as an error event and a run_end.
    events = read_transcript(tmp_path / "t.jsonl").events
    assert isinstance(events[-1], RunEnd) and events[-1].status == "error"
    assert "BoundExceeded" in (events[-1].error or "")


async def test_identical_subquestions_are_computed_once(tmp_path: Path) -> None:
    leaf = CountingLeaf(delay=0.05)
    # Same question twice in one batch (in flight together), then again later (memoised).
    over = Scripted([["same", "same", "other"], ["same"]])
    result = await run_question(hch_tree(over, leaf, 1), "q", transcript=tmp_path / "t.jsonl")
    assert leaf.calls["same"] == 1
    assert over.seen == [["4", "4", "5"], ["4"]]
    events = read_transcript(tmp_path / "t.jsonl").events
    reuses = [e for e in events if isinstance(e, Reuse)]
    assert [(r.child_id, r.source_id) for r in reuses] == [("0.1", "0.0"), ("0.3", "0.0")]
    assert result.counts["reuse"] == 2


async def test_reuse_is_only_under_the_same_bound(tmp_path: Path) -> None:
    leaf = CountingLeaf()

    class TwoLevels:
        name = "two-levels"

        async def __call__(self, ws: Workspace) -> str:
            if ws.question == "root":
                await ws.ask("x", "leafq")
            elif ws.question == "x":
                await ws.ask("leafq")
            return "0"

    await run_question(hch_tree(TwoLevels(), leaf, 2), "root", transcript=tmp_path / "t.jsonl")
    # "leafq" was asked at level 1 by the root and at level 0 by "x": different computations.
    assert leaf.calls["leafq"] == 1  # only the level-0 copy reaches the leaf model
    tree = build_tree(read_transcript(tmp_path / "t.jsonl").events)
    assert tree is not None
    statuses = sorted((n.node_id, n.status) for n in tree.walk())
    assert ("0.1", "worked") in statuses and ("0.0.0", "worked") in statuses


async def test_a_subquestion_equal_to_an_ancestor_is_refused(tmp_path: Path) -> None:
    class Loopy:
        name = "loopy"

        async def __call__(self, ws: Workspace) -> str:
            # Asks its own question and its parent's: both would recurse forever.
            answers = await ws.ask(ws.question, *ws.node.ancestors[-1:], f"{ws.question}+")
            return ";".join(a.split(":")[0] for a in answers)

    result = await run_question(hch_tree(Loopy(), CountingLeaf(), 3), "q", transcript=tmp_path / "t.jsonl")
    events = read_transcript(tmp_path / "t.jsonl").events
    refusals = [e for e in events if isinstance(e, Refusal)]
    assert result.answer.startswith("refused;")
    assert {r.question for r in refusals} >= {"q", "q+"}
    assert all("recurse forever" in r.reason for r in refusals)
    # Every refused question is one of the asking node's lineage.
    starts = {e.node_id: e for e in events if isinstance(e, NodeStart)}
    for r in refusals:
        lineage = []
        node_id: str | None = r.node_id
        while node_id is not None:
            lineage.append(starts[node_id].question)
            node_id = starts[node_id].parent_id
        assert r.question in lineage


async def test_siblings_run_concurrently(tmp_path: Path) -> None:
    width = 6
    active = 0
    peak = 0
    all_in = asyncio.Event()

    class Barrier:
        name = "barrier"
        level = 0

        async def answer(self, node: Node) -> str:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            if active == width:
                all_in.set()
            # Sequential execution would wait here forever: only concurrency sets the event.
            await asyncio.wait_for(all_in.wait(), timeout=5)
            active -= 1
            return "1"

    over = Scripted([[f"q{i}" for i in range(width)]])
    result = await run_question(hch_tree(over, Barrier(), 1), "root", transcript=tmp_path / "t.jsonl")
    assert peak == width
    assert result.answer == str(width)


class Boom(Exception):
    pass


async def test_an_error_in_one_branch_stops_the_tree_and_leaves_no_task(tmp_path: Path) -> None:
    started: list[str] = []

    class FailsOnce:
        name = "fails-once"
        level = 0

        async def answer(self, node: Node) -> str:
            started.append(node.question)
            if node.question == "bad":
                await asyncio.sleep(0.01)
                raise Boom("leaf exploded")
            if node.question == "quick":
                return "1"
            await asyncio.Event().wait()  # would hang forever if not cancelled
            return "never"

    over = Scripted([["quick", "slow1", "bad", "slow2"]])
    before = asyncio.all_tasks()
    with pytest.raises(Boom, match="leaf exploded"):
        await run_question(hch_tree(over, FailsOnce(), 1), "root", transcript=tmp_path / "t.jsonl")
    assert asyncio.all_tasks() == before
    events = read_transcript(tmp_path / "t.jsonl").events
    errors = {e.node_id: e.error_type for e in events if isinstance(e, NodeError)}
    assert errors == {"0.2": "Boom", "0.1": "Cancelled", "0.3": "Cancelled", "0": "Boom"}
    # What finished before the failure is on disk.
    assert any(isinstance(e, NodeAnswer) and e.node_id == "0.0" and e.answer == "1" for e in events)
    end = events[-1]
    assert isinstance(end, RunEnd) and end.status == "error" and "leaf exploded" in (end.error or "")


async def test_cancelling_a_run_leaves_no_task_and_a_complete_prefix(tmp_path: Path) -> None:
    leaf = CountingLeaf(delay=30)

    class Quick:
        name = "quick-leaf"
        level = 0

        async def answer(self, node: Node) -> str:
            return await (leaf.answer(node) if node.question.startswith("slow") else asyncio.sleep(0, "7"))

    over = Scripted([["fast", "slow-a", "slow-b"]])
    before = asyncio.all_tasks()
    task = asyncio.create_task(run_question(hch_tree(over, Quick(), 1), "root", transcript=tmp_path / "t.jsonl"))
    for _ in range(500):  # polling a counter the leaf model owns; bounded to 5 s
        if leaf.calls.total() == 2:
            break
        await asyncio.sleep(0.01)
    assert leaf.calls.total() == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() == before
    transcript = read_transcript(tmp_path / "t.jsonl")
    assert transcript.cut is None
    assert isinstance(transcript.end, RunEnd) and transcript.end.status == "cancelled"
    assert any(isinstance(e, NodeAnswer) and e.answer == "7" for e in transcript.events)


async def test_levels_follow_amplification_depth(tmp_path: Path) -> None:
    model = hch_tree(RandomOverseer(), CountingLeaf(), 3)
    assert model.level == 3
    await run_question(model, "abc", transcript=tmp_path / "t.jsonl")
    starts = [e for e in read_transcript(tmp_path / "t.jsonl").events if isinstance(e, NodeStart)]
    assert starts[0].level == 3 and starts[0].worker == "random-overseer"
    assert {s.worker for s in starts if s.level == 0} <= {"counting-leaf"}
    assert {s.worker for s in starts if s.level > 0} == {"random-overseer"}


def test_overseer_by_distance_from_root() -> None:
    top, rest = RandomOverseer(name="top"), RandomOverseer(name="rest")
    model = hch_tree(rest, CountingLeaf(), 3, overseer_at=lambda d: top if d == 0 else rest)
    names = []
    while model.level > 0:
        names.append(model.name)
        model = model.model  # type: ignore[attr-defined]
    assert names == ["top", "rest", "rest"]
