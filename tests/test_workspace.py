"""What the workspace tells an overseer: room for a batch, a check of a batch, answers as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hch import Arrival, BatchCheck, BoundExceeded, Node, Workspace, hch_tree, run_question
from hch.testing import CountingLeaf
from transcripts import read_transcript
from transcripts.events import Ask, NodeError, Refusal, Reuse

Work = Callable[[Workspace], Awaitable[str]]


@dataclass
class RootOnly:
    """Runs ``work`` at the root; every other overseer node answers alone."""

    work: Work
    name: str = "root-only"

    async def __call__(self, ws: Workspace) -> str:
        if ws.node.depth > 0:
            return "0"
        return await self.work(ws)


@dataclass
class Gated:
    """A base model whose answer to a question waits until the test opens that question's gate."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    name: str = "gated"
    level: int = 0

    def gate(self, question: str) -> asyncio.Event:
        return self.gates.setdefault(question, asyncio.Event())

    async def answer(self, node: Node) -> str:
        await self.gate(node.question).wait()
        return f"answer to {node.question}"


async def run(work: Work, path: Path, **options: object) -> str:
    model = hch_tree(RootOnly(work), options.pop("leaf", CountingLeaf()), 1)  # type: ignore[arg-type]
    result = await run_question(model, str(options.pop("question", "root")), transcript=path, **options)  # type: ignore[arg-type]
    return result.answer


def snapshot(ws: Workspace) -> tuple[object, ...]:
    """Everything a check must leave alone: the budget, the single-flight table, the transcript, the history."""
    budget = ws.node.budget
    tokens = ws.node.tokens
    entries = ws.node.run.memo._entries  # the single-flight table's contents: private, read to see it is untouched
    memo = {key: [(s.node_id, s.answer, s.bounds) for s in shared] for key, shared in entries.items()}
    counts = dict(ws.node.run.counts)  # every event recorded is counted
    return (
        budget.spent,
        budget.reserved,
        tokens.spent,
        tokens.reserved,
        memo,
        counts,
        ws.subquestions_left,
        list(ws.history),
    )


# -- room ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.one_of(st.none(), st.integers(1, 12)), cap=st.integers(1, 6), first=st.integers(0, 6))
async def test_room_is_exactly_what_ask_accepts(tmp_path: Path, budget: int | None, cap: int, first: int) -> None:
    seen: list[tuple[int, int | None, int]] = []

    async def work(ws: Workspace) -> str:
        if 0 < first <= ws.room():
            await ws.ask(*(f"warm-up {i}" for i in range(first)))
        room = ws.room()
        seen.append((room, ws.budget_left, ws.subquestions_left))
        assert ws.can_ask(room) == (room > 0) and not ws.can_ask(room + 1)
        assert ws.check(*(f"q{i}" for i in range(room + 1))).bound is not None
        if room:
            assert ws.check(*(f"q{i}" for i in range(room))).ok
        with pytest.raises(BoundExceeded):
            await ws.ask(*(f"q{i}" for i in range(room + 1)))
        if room:
            await ws.ask(*(f"q{i}" for i in range(room)))
        return "done"

    path = tmp_path / f"room-{budget}-{cap}-{first}.jsonl"
    path.unlink(missing_ok=True)
    assert await run(work, path, budget=budget, max_subquestions=cap) == "done"
    ((room, left, count),) = seen
    assert room == (count if left is None else min(count, left))


async def test_room_counts_the_cap_and_the_budget(tmp_path: Path) -> None:
    rooms: list[int] = []

    async def work(ws: Workspace) -> str:
        rooms.append(ws.room())  # 5 calls left after the root's own, cap 3: the cap binds
        await ws.ask("a")  # the child spends 1 of its share of 5
        rooms.append(ws.room())  # 4 calls left, 2 subquestions left
        if ws.can_ask(2):
            await ws.ask("b", "c")
        rooms.append(ws.room())  # no subquestions left
        return "done"

    await run(work, tmp_path / "t.jsonl", budget=6, max_subquestions=3)
    assert rooms == [3, 2, 0]

    rooms.clear()
    await run(work, tmp_path / "u.jsonl", budget=3, max_subquestions=3)
    # 2 calls left at first: the budget binds; after "a", 1, and a batch of 2 does not fit.
    assert rooms == [2, 1, 1]


# -- check ---------------------------------------------------------------------


async def test_check_predicts_ask_and_changes_nothing(tmp_path: Path) -> None:
    checks: list[BatchCheck] = []

    async def work(ws: Workspace) -> str:
        await ws.ask("shared one")
        batch = ("fresh", "  root  ", "shared one", "fresh", "another")
        before = snapshot(ws)
        check = ws.check(*batch)
        assert ws.check(*batch) == check  # a check asks nothing, so asking it twice says the same
        assert snapshot(ws) == before
        checks.append(check)
        await ws.ask(*batch)
        return "done"

    path = tmp_path / "t.jsonl"
    await run(work, path, question="root")  # unbounded: every share is the same, so repeats across batches are shared
    (check,) = checks
    assert check.ok and check.problem is None
    assert [(p.question, p.child_id, p.status, p.source_id) for p in check.questions] == [
        ("fresh", "0.1", "worked", None),
        ("root", "0.2", "refused", None),  # the root's question, with spaces around it
        ("shared one", "0.3", "reused", "0.0"),
        ("fresh", "0.4", "reused", "0.1"),  # a repeat within the batch shares the first
        ("another", "0.5", "worked", None),
    ]
    events = read_transcript(path).events
    (refusal,) = [e for e in events if isinstance(e, Refusal)]
    assert check.refused[0].reason == refusal.reason and "ancestor" not in refusal.reason
    assert {(e.child_id, e.source_id) for e in events if isinstance(e, Reuse)} == {("0.3", "0.0"), ("0.4", "0.1")}
    asks = [e.questions for e in events if isinstance(e, Ask)]
    assert asks[1] == [p.question for p in check.questions]


async def test_check_names_the_bound_a_batch_exceeds(tmp_path: Path) -> None:
    checks: list[BatchCheck] = []

    async def work(ws: Workspace) -> str:
        before = snapshot(ws)
        over_cap = ws.check("a", "b", "c")
        over_budget = ws.check("a", "b")
        only_refused = ws.check("root")
        assert snapshot(ws) == before
        checks.extend([over_cap, over_budget, only_refused])
        with pytest.raises(BoundExceeded) as cap_error:
            await ws.ask("a", "b", "c")
        with pytest.raises(BoundExceeded) as budget_error:
            await ws.ask("a", "b")
        assert str(cap_error.value) == over_cap.problem and str(budget_error.value) == over_budget.problem
        return "done"

    await run(work, tmp_path / "t.jsonl", budget=2, max_subquestions=2)
    over_cap, over_budget, only_refused = checks
    assert over_cap.bound == "subquestions" and "can ask only 2 more (at most 2 per node)" in (over_cap.problem or "")
    assert over_budget.bound == "budget" and "1 call(s) of budget left" in (over_budget.problem or "")
    # A refused question costs no budget: the engine would ask this batch and answer it with the refusal.
    assert only_refused.ok and only_refused.refused[0].reason.startswith("refused: identical to this node's own")


# -- answers as they arrive ----------------------------------------------------


async def test_answers_arrive_in_completion_order(tmp_path: Path) -> None:
    leaf = Gated()
    arrived: list[Arrival] = []
    histories: list[list[str]] = []
    # Each answer opens the gate of the next: c, then a, then b; "root" is refused, at once.
    then = {"answer to c": "a", "answer to a": "b"}

    async def work(ws: Workspace) -> str:
        arrivals = ws.ask_each("a", "b", "root", "c", "a")
        assert [p.child_id for p in arrivals.plan] == ["0.0", "0.1", "0.2", "0.3", "0.4"]
        leaf.gate("c").set()
        async for arrival in arrivals:
            arrived.append(arrival)
            if arrival.exchange.answer in then:
                leaf.gate(then[arrival.exchange.answer]).set()
        histories.append([e.answer for e in ws.history])
        return "done"

    path = tmp_path / "t.jsonl"
    await run(work, path, leaf=leaf)
    order = [a.index for a in arrived]
    assert order[0] == 2 and arrived[0].exchange.status == "refused"
    assert order[1] == 3 and arrived[1].exchange.answer == "answer to c"
    # The repeated "a" shares the first one's subtree, so both arrive when it does; then b.
    assert set(order[2:4]) == {0, 4} and order[4] == 1
    assert {arrived[2].exchange.status, arrived[3].exchange.status} == {"worked", "reused"}
    # The history is in question order, whatever the order of arrival, once the iteration ends.
    assert histories == [["answer to a", "answer to b", arrived[0].exchange.answer, "answer to c", "answer to a"]]


async def test_ask_each_is_recorded_like_ask(tmp_path: Path) -> None:
    async def with_ask(ws: Workspace) -> str:
        return "|".join(await ws.ask("x", "yy", "x", "root"))

    async def with_ask_each(ws: Workspace) -> str:
        answers = [""] * 4
        async for arrival in ws.ask_each("x", "yy", "x", "root"):
            answers[arrival.index] = arrival.exchange.answer
        return "|".join(answers)

    def recorded(path: Path) -> list[tuple[str, ...]]:
        out = []
        for e in read_transcript(path).events:
            fields = e.model_dump(exclude={"time", "seq", "prev", "worker", "hash"})
            out.append(tuple(sorted(f"{k}={v}" for k, v in fields.items() if k not in ("run_id", "created"))))
        return sorted(out)

    a, b = tmp_path / "ask.jsonl", tmp_path / "each.jsonl"
    assert await run(with_ask, a, budget=9) == await run(with_ask_each, b, budget=9)
    assert recorded(a) == recorded(b)


async def test_a_failing_subquestion_ends_the_iteration_with_its_error(tmp_path: Path) -> None:
    class Failing:
        name = "failing"
        level = 0

        async def answer(self, node: Node) -> str:
            if node.question == "bad":
                raise ValueError("no answer to bad")
            return "ok"

    got: list[str] = []

    async def work(ws: Workspace) -> str:
        with pytest.raises(ValueError, match="no answer to bad"):
            async for arrival in ws.ask_each("good", "bad"):
                got.append(arrival.exchange.answer)
        return "survived"

    assert await run(work, tmp_path / "t.jsonl", leaf=Failing()) == "survived"
    assert got in ([], ["ok"])


async def test_cancelling_the_reader_stops_the_batch(tmp_path: Path) -> None:
    leaf = Gated()

    async def work(ws: Workspace) -> str:
        arrivals = ws.ask_each("never", "soon")
        leaf.gate("soon").set()
        first = asyncio.Event()

        async def read() -> None:
            async for _ in arrivals:
                first.set()

        reader = asyncio.ensure_future(read())
        await first.wait()  # "soon" is answered; "never" waits on a gate nobody opens
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        return "stopped"

    path = tmp_path / "t.jsonl"
    assert await run(work, path, leaf=leaf) == "stopped"
    errors = [e for e in read_transcript(path).events if isinstance(e, NodeError)]
    assert [(e.node_id, e.error_type) for e in errors] == [("0.0", "Cancelled")]


async def test_room_and_check_count_the_tokens_a_node_keeps(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int, BatchCheck]] = []

    async def work(ws: Workspace) -> str:
        before = snapshot(ws)
        left = ws.tokens_left
        assert left is not None
        check = ws.check("a", keep_tokens=left + 1)
        assert snapshot(ws) == before
        seen.append((ws.room(tokens_each=10, keep_tokens=left - 25), ws.room(keep_tokens=left + 1), left, check))
        with pytest.raises(BoundExceeded) as error:
            await ws.ask("a", keep_tokens=left + 1)
        assert str(error.value) == check.problem
        return "done"

    await run(work, tmp_path / "t.jsonl", token_budget=100)
    ((each_10, over, left, check),) = seen
    assert left == 100 and each_10 == 2 and over == 0  # 25 tokens left to hand down: two children of 10 each
    assert check.bound == "tokens" and not check.ok
