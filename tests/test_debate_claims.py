"""A debater's step is stated against a workspace of claims: every way of asking it answers by the claims."""

from __future__ import annotations

import random
from pathlib import Path

from hch.context import RunContext
from hch.tasks import find_task
from operators.debate.claims import TaskRules, _ClaimWorkspace
from transcripts.events import Header
from transcripts.writer import TranscriptWriter


async def test_every_way_of_asking_a_claim_workspace_answers_by_the_claims(tmp_path: Path) -> None:
    writer = TranscriptWriter(tmp_path / "run.jsonl", Header(run_id="r", created="now", hch_version="t", question="q"))
    task = find_task("permutation")
    facts = task.generate(random.Random(0), 8).facts
    rules = TaskRules.of(task, facts, RunContext(writer=writer, max_subquestions=1))
    ws = _ClaimWorkspace(rules.node, rules.oracle, lambda _question, i: f"claim {i}")

    # The run caps a node at one subquestion; a step states as many sub-claims as the rules ask.
    assert ws.can_ask(3) and ws.room() >= 3
    check = ws.check("s^1(0)", "s^1(1)")
    assert check.ok and [p.status for p in check.questions] == ["worked", "worked"]

    assert await ws.ask("s^1(0)") == ["claim 0"]
    # ask_each gives the claims too, not the subtrees the plain workspace would ask.
    arrived = [(a.index, a.exchange.answer, a.exchange.child_id) async for a in ws.ask_each("s^1(1)", "s^1(2)")]
    assert arrived == [(0, "claim 1", "debater.1"), (1, "claim 2", "debater.2")]
    assert [(c.question, c.answer) for c in ws.claims] == [
        ("s^1(0)", "claim 0"),
        ("s^1(1)", "claim 1"),
        ("s^1(2)", "claim 2"),
    ]
    writer.close()
