"""Stated limits on depth, budget, subquestions, size and instances; depth-1000 trees end to end."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from hch import UsageError, Workspace, hch_tree, run_question
from hch.app.evaluate import instances
from hch.app.replay import replay_transcript
from hch.limits import MAX_BUDGET, MAX_DEPTH, MAX_INSTANCES, MAX_SIZE, MAX_SUBQUESTIONS, MAX_TOKEN_BUDGET
from hch.tasks import find_task
from hch.testing.models import CountingLeaf
from tests.test_cli_tasks import hch, one_line_error
from transcripts import read_transcript
from transcripts.diff import diff_runs
from transcripts.html import page_data
from transcripts.show import render_node, render_tree
from transcripts.verify import verify_transcript


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--task", "permutation", "--depth", str(MAX_DEPTH + 1)], "--depth must be at most 1,000, got 1,001"),
        (["run", "--task", "permutation", "--depth", str(10**30)], "--depth must be at most 1,000"),
        (["run", "--task", "permutation", "--size", str(10**9)], "--size must be at most 100,000"),
        (["run", "--task", "permutation", "--budget", str(10**12)], "--budget must be at most 10,000,000 calls"),
        (["run", "--task", "permutation", "--max-subquestions", "1001"], "--max-subquestions must be at most 1,000"),
        (
            ["run", "--task", "permutation", "--token-budget", str(10**12)],
            "--token-budget must be at most 10,000,000,000",
        ),
        (["run", "--task", "permutation", "--token-budget", "0"], "--token-budget must be at least 1 token"),
        (["eval", "--task", "wildcard", "--depth", "1", "--n", str(10**6)], "--n must be at most 100,000"),
        (["eval", "--task", "wildcard", "--depth", "1", "--depth", "5000"], "--depth must be at most 1,000"),
        (["eval", "--task", "wildcard", "--depth", "1", "--size", str(10**9)], "--size must be at most 100,000"),
    ],
)
def test_values_beyond_the_stated_limits_are_one_line_errors(hch_home: Path, args: list[str], message: str) -> None:
    proc = hch(*args, home=hch_home)
    assert proc.returncode == 2
    assert message in one_line_error(proc)
    assert not (hch_home / "transcripts").exists() or not any((hch_home / "transcripts").rglob("*.jsonl"))


def test_help_states_the_limits(hch_home: Path) -> None:
    text = " ".join(hch("run", "--help", home=hch_home).stdout.split())
    for limit in (MAX_DEPTH, MAX_BUDGET, MAX_SUBQUESTIONS, MAX_SIZE, MAX_TOKEN_BUDGET):
        assert f"{limit:,}" in text
    assert f"{MAX_INSTANCES:,}" in " ".join(hch("eval", "--help", home=hch_home).stdout.split())


async def test_the_library_entry_points_check_the_same_limits(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="depth must be at most"):
        hch_tree(Chain(), CountingLeaf(), MAX_DEPTH + 1)
    tree = hch_tree(Chain(), CountingLeaf(), 2)
    with pytest.raises(UsageError, match="budget must be at most"):
        await run_question(tree, "q", transcript=tmp_path / "a.jsonl", budget=MAX_BUDGET + 1)
    with pytest.raises(UsageError, match="max subquestions must be at most"):
        await run_question(tree, "q", transcript=tmp_path / "b.jsonl", max_subquestions=MAX_SUBQUESTIONS + 1)
    with pytest.raises(UsageError, match="n must be at most"):
        instances(find_task("wildcard"), MAX_INSTANCES + 1, 0, 8)
    with pytest.raises(UsageError, match="size must be at most"):
        instances(find_task("permutation"), 1, 0, MAX_SIZE + 1)
    assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "b.jsonl").exists()  # refused before opening


class Chain:
    """Asks one subquestion per level (a tree as deep as it is allowed), answering its answer plus one."""

    name = "chain"

    def __init__(self, twist_at: int | None = None) -> None:
        self.twist_at = twist_at

    async def __call__(self, ws: Workspace) -> str:
        (answer,) = await ws.ask(f"level {ws.node.depth + 1}")
        return str(int(answer) + (2 if ws.node.depth == self.twist_at else 1))


async def test_a_tree_at_the_depth_limit_runs_shows_exports_diffs_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    result = await run_question(hch_tree(Chain(), CountingLeaf(), MAX_DEPTH), "level 0", transcript=path)
    assert result.nodes == MAX_DEPTH + 1 and result.answer == str(MAX_DEPTH + len("level 1000"))
    transcript = read_transcript(path)
    assert verify_transcript(path).ok

    screen = io.StringIO()
    Console(file=screen, width=120).print(render_tree(transcript))
    assert "level 1000" in screen.getvalue() and "continued below (depth 996)" in screen.getvalue()
    deepest = "0" + ".0" * MAX_DEPTH
    Console(file=io.StringIO(), width=120).print(render_node(transcript, deepest))
    assert [n["id"] for n in page_data(transcript)["nodes"]][-1] == deepest

    # Replay rebuilds the same depth-1000 tree; a changed overseer deep down is found.
    report = await replay_transcript(
        transcript, hch_tree(Chain(), CountingLeaf(), MAX_DEPTH), transcript=tmp_path / "replay.jsonl"
    )
    assert report.identical, report.summary()
    twisted = await replay_transcript(
        transcript, hch_tree(Chain(twist_at=998), CountingLeaf(), MAX_DEPTH), transcript=tmp_path / "twisted.jsonl"
    )
    assert not twisted.identical
    assert twisted.diff.roots()[0].node_id == "0" + ".0" * 998
    assert diff_runs(transcript, transcript).identical


def test_the_cli_shows_diffs_exports_and_verifies_a_depth_1000_tree(hch_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    asyncio.run(run_question(hch_tree(Chain(), CountingLeaf(), MAX_DEPTH), "level 0", transcript=path))
    for args in (
        ["show", str(path)],
        ["verify", str(path)],
        ["diff", str(path), str(path)],
        ["export", str(path), "--html", str(tmp_path / "d.html")],
    ):
        proc = hch(*args, home=hch_home)
        assert proc.returncode == 0, proc.stderr[-500:]
        assert "Traceback" not in proc.stderr
    assert (tmp_path / "d.html").stat().st_size > 0
