"""A token budget end to end on the REAL embedded model (SmolLM2-135M served by llama.cpp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hch import hch_tree, run_question
from hch.llm.embedded import EmbeddedServer, embedded_settings, open_client
from hch.llm.overseer import NO_TOKENS_ANSWER, LLMBaseModel, LLMOverseer, StructuredOutput
from tests.audit_helpers import hch
from tests.test_embedded_e2e import hch_run, printed_transcript
from transcripts import read_transcript
from transcripts.events import ModelCall, NodeAnswer, NodeError, NodeStart, RunEnd

pytestmark = pytest.mark.slow

QUESTION = "How many legs do three spiders and two ants have?"
TOKEN_BUDGET = 24_000
"""Small: enough for the root to ask a few subquestions, not for the depth-2 tree to grow whole."""


async def test_a_run_with_a_small_token_budget_answers_every_node_within_it(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with open_client(embedded_settings(cache=False), server=EmbeddedServer(log_dir=tmp_path)) as client:
        output: StructuredOutput = "json_object_schema"
        tree = hch_tree(LLMOverseer(client, output=output), LLMBaseModel(client, output=output), 2)
        result = await run_question(tree, QUESTION, transcript=path, token_budget=TOKEN_BUDGET)
    events = read_transcript(path).events
    starts = {e.node_id: e for e in events if isinstance(e, NodeStart)}
    answers = {e.node_id: e for e in events if isinstance(e, NodeAnswer)}
    end = events[-1]
    assert isinstance(end, RunEnd) and end.status == "ok"
    assert not any(isinstance(e, NodeError) for e in events)
    # Every node answered, and with the model's answer: each was handed enough to ask it.
    assert set(answers) == set(starts) and len(starts) > 1
    assert not any(a.answer == NO_TOKENS_ANSWER for a in answers.values())
    # Spent within the allotment, the run's and every subtree's; the spending is the calls' charges.
    assert 0 < result.tokens_spent <= TOKEN_BUDGET
    for node_id, start in starts.items():
        assert start.token_budget is not None and answers[node_id].tokens_spent <= start.token_budget
    calls = [e for e in events if isinstance(e, ModelCall)]
    assert result.tokens_spent == sum(c.tokens for c in calls)
    assert all(c.tokens == c.usage["total_tokens"] for c in calls)  # the embedded server reports usage
    print(
        f"token budget {TOKEN_BUDGET}: spent {result.tokens_spent}, {len(starts)} nodes answered, "
        f"{len(calls)} model calls"
    )


def test_hch_run_with_a_token_budget_replays_identically_and_shows_it(hch_home: Path) -> None:
    proc = hch_run(QUESTION, "--depth", "2", "--token-budget", str(TOKEN_BUDGET), "--no-cache", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    path = printed_transcript(proc.stdout)
    transcript = read_transcript(path)
    spent = next(e.tokens_spent for e in transcript.events if isinstance(e, NodeAnswer) and e.node_id == "0")
    assert 0 < spent <= TOKEN_BUDGET
    assert f"tokens spent {spent} of {TOKEN_BUDGET}" in " ".join(proc.stdout.split())
    assert transcript.header.settings["spec"]["token_budget"] == TOKEN_BUDGET
    # The replay charges each call what the run did, so every node is handed and spends the same.
    replay = hch("replay", str(path), home=hch_home)
    assert replay.returncode == 0 and replay.stdout.startswith("identical"), replay.stdout + replay.stderr
    show = hch("show", str(path), home=hch_home)
    assert f"token budget: {spent} of {TOKEN_BUDGET} spent" in " ".join(show.stdout.split())
