"""Bounding the nodes working at once (hch.admission): wide trees stay small, deep trees never deadlock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from hch import Node, Workspace, hch_tree, run_question
from hch.admission import Admission


@dataclass
class GaugedLeaf:
    """A slow base model that records how many leaves were working at once."""

    delay: float = 0.01
    now: int = 0
    most: int = 0
    name: str = "gauged-leaf"
    level: int = 0

    async def answer(self, node: Node) -> str:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.now -= 1
        return "1"


class Fan:
    name = "fan"

    def __init__(self, fanout: int) -> None:
        self.fanout = fanout

    async def __call__(self, ws: Workspace) -> str:
        answers = await ws.ask(*(f"{ws.question}.{i}" for i in range(self.fanout)))
        return str(sum(int(a) for a in answers))


class Chain:
    """Asks one subquestion and answers with its answer plus one."""

    name = "chain"

    async def __call__(self, ws: Workspace) -> str:
        (answer,) = await ws.ask(f"{ws.question}+")
        return str(int(answer) + 1)


async def test_a_wide_tree_works_at_most_the_limit_of_nodes_at_once(tmp_path: Path) -> None:
    leaf = GaugedLeaf()
    result = await run_question(
        hch_tree(Fan(6), leaf, 3), "q", transcript=tmp_path / "t.jsonl", max_subquestions=6, max_working=5
    )
    assert result.answer == str(6**3) and result.nodes == 1 + 6 + 36 + 216
    assert 1 < leaf.most <= 5


async def test_without_a_limit_the_same_tree_starts_every_leaf_at_once(tmp_path: Path) -> None:
    # The counterpart of the test above: what the limit prevents.
    leaf = GaugedLeaf()
    await run_question(hch_tree(Fan(6), leaf, 3), "q", transcript=tmp_path / "t.jsonl", max_subquestions=6)
    assert leaf.most == 216


async def test_a_chain_deeper_than_the_limit_finishes(tmp_path: Path) -> None:
    # A semaphore held by each node until it answers would deadlock here:
    # every slot taken by a waiting ancestor, none left for the next child.
    result = await run_question(
        hch_tree(Chain(), GaugedLeaf(delay=0), 40), "q", transcript=tmp_path / "t.jsonl", max_working=2
    )
    assert result.answer == "41" and result.nodes == 41


async def test_a_cancelled_waiter_gives_no_slot_away_and_keeps_none() -> None:
    gate = Admission(1)
    await gate.enter("a", 1)
    waiter = asyncio.create_task(gate.enter("b", 1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release("a")
    assert gate.working == 0
    await asyncio.wait_for(gate.enter("c", 1), 1)  # the slot is free again
    assert gate.working == 1


async def test_deeper_waiters_are_admitted_first() -> None:
    gate = Admission(1)
    await gate.enter("root", 0)
    order: list[str] = []

    async def enter(node_id: str, depth: int) -> None:
        await gate.enter(node_id, depth)
        order.append(node_id)
        gate.release(node_id)

    waiters = [asyncio.create_task(enter(n, d)) for n, d in (("shallow", 1), ("deep", 5), ("middle", 3))]
    await asyncio.sleep(0)
    gate.release("root")
    await asyncio.gather(*waiters)
    assert order == ["deep", "middle", "shallow"]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0)
