"""Single-flight under budgets: a subquestion shares a subtree handed no more than it would hand down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hch import Workspace, hch_tree, run_question
from hch.playback import Playback
from hch.sharing import Shared, SingleFlight, affordable
from hch.testing import CountingLeaf
from transcripts import read_transcript
from transcripts.events import NodeStart, Reuse


def test_a_subtree_is_affordable_when_handed_no_more_on_every_budget() -> None:
    assert affordable((3, 100), (3, 100))
    assert affordable((2, 50), (3, 100))
    assert not affordable((4, 50), (3, 100))  # more calls than the asker would hand down
    assert not affordable((2, 150), (3, 100))  # more tokens
    assert affordable((2, None), (3, None))  # no token budget: only calls matter
    assert affordable((10**6, 10**9), (None, None))  # unbounded affords everything
    assert not affordable((None, 5), (10, 5))  # an unbounded subtree is larger than any number


def test_the_table_shares_the_largest_affordable_subtree() -> None:
    table = SingleFlight()
    small, large, too_large = (
        Shared("0.0", bounds=(2, 10)),
        Shared("0.1", bounds=(5, 40)),
        Shared("0.2", bounds=(9, 90)),
    )
    for shared in (small, large, too_large):
        table.add("q", 0, shared)
    assert table.affordable("q", 0, (6, 50)) is large
    assert table.affordable("q", 0, (3, 50)) is small
    assert table.affordable("q", 0, (1, 50)) is None
    assert table.affordable("q", 1, (9, 90)) is None  # another level is another computation
    assert table.exact("q", 0, (5, 40)) is large and table.exact("q", 0, (5, 41)) is None
    assert table.named("q", 0, "0.2") is too_large


@dataclass
class Batches:
    """At the root, asks fixed batches in order; elsewhere answers alone."""

    batches: list[list[str]]
    name: str = "batches"

    async def __call__(self, ws: Workspace) -> str:
        for batch in self.batches if ws.node.depth == 0 else []:
            await ws.ask(*batch)
        return "done"


async def run(tmp_path: Path, name: str, batches: list[list[str]], **bounds: int) -> tuple[CountingLeaf, Path]:
    leaf = CountingLeaf()
    path = tmp_path / name
    await run_question(hch_tree(Batches(batches), leaf, 1), "root", transcript=path, **bounds)  # type: ignore[arg-type]
    return leaf, path


async def test_a_richer_asker_shares_a_subtree_worked_under_less(tmp_path: Path) -> None:
    # Budget 21: the first batch hands "x" 10 calls; the second batch hands it 19 (all that came back).
    leaf, path = await run(tmp_path, "t.jsonl", [["x", "y"], ["x"]], budget=21)
    assert leaf.calls["x"] == 1
    reuses = [e for e in read_transcript(path).events if isinstance(e, Reuse)]
    assert [(r.child_id, r.source_id) for r in reuses] == [("0.2", "0.0")]


async def test_a_poorer_asker_does_not_share_a_subtree_worked_under_more(tmp_path: Path) -> None:
    # The first batch hands "x" 20 calls, the second 9: that asker could not have afforded the first subtree.
    leaf, path = await run(tmp_path, "t.jsonl", [["x"], ["x", "y"]], budget=21)
    assert leaf.calls["x"] == 2
    assert not any(isinstance(e, Reuse) for e in read_transcript(path).events)


async def test_tokens_count_in_the_rule_as_calls_do(tmp_path: Path) -> None:
    richer, _ = await run(tmp_path, "a.jsonl", [["x", "y"], ["x"]], token_budget=1000)
    poorer, _ = await run(tmp_path, "b.jsonl", [["x"], ["x", "y"]], token_budget=1000)
    assert (richer.calls["x"], poorer.calls["x"]) == (1, 2)


async def test_more_calls_do_not_make_up_for_fewer_tokens(tmp_path: Path) -> None:
    class KeepsTokens:
        name = "keeps-tokens"

        async def __call__(self, ws: Workspace) -> str:
            if ws.node.depth == 0:
                await ws.ask("x", "y")  # "x" is handed 14 calls and 500 tokens
                await ws.ask("x", keep_tokens=600)  # 27 calls but only 400 tokens
            return "done"

    leaf = CountingLeaf()
    path = tmp_path / "t.jsonl"
    await run_question(hch_tree(KeepsTokens(), leaf, 1), "root", transcript=path, budget=30, token_budget=1000)
    starts = {e.node_id: e for e in read_transcript(path).events if isinstance(e, NodeStart)}
    assert (starts["0.0"].budget, starts["0.0"].token_budget) == (14, 500)
    assert (starts["0.2"].budget, starts["0.2"].token_budget) == (27, 400)
    assert leaf.calls["x"] == 2


async def test_a_replay_makes_the_recorded_sharing_decisions(tmp_path: Path) -> None:
    batches = [["x", "y"], ["x", "z"], ["y"], ["x"]]
    _, path = await run(tmp_path, "run.jsonl", batches, budget=40)
    recorded = read_transcript(path).events
    leaf = CountingLeaf()
    again = tmp_path / "replay.jsonl"
    await run_question(
        hch_tree(Batches(batches), leaf, 1),
        "root",
        transcript=again,
        budget=40,
        playback=Playback.from_events(recorded, strict=True),
    )

    def decisions(events: Sequence[object]) -> list[tuple[str, str]]:
        return [(e.child_id, e.source_id) for e in events if isinstance(e, Reuse)]

    assert decisions(read_transcript(again).events) == decisions(recorded)
    assert decisions(recorded)  # the run did share across different budgets
