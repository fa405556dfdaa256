"""Token budgets: reserved before each model call, settled with its usage, handed down like calls."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hch import hch_tree, run_question
from hch.budget import Budget
from hch.llm import LLMClient, LLMSettings
from hch.llm.overseer import NO_TOKENS_ANSWER, LLMBaseModel, LLMOverseer
from hch.llm.tokens import MESSAGE_OVERHEAD, REQUEST_OVERHEAD, prompt_bound, reservation
from hch.node import Node
from hch.playback import Playback
from hch.testing import BranchingPolicy, RandomOverseer
from transcripts import read_transcript
from transcripts.events import Ask, ModelCall, NodeAnswer, NodeError, NodeStart, RunEnd


@dataclass
class Server:
    """A chat endpoint (mocked transport) replying by a branching policy with a chosen usage.

    It reports ``prompt_ratio`` of the prompt's bytes as prompt tokens and
    ``completion_ratio`` of ``max_tokens`` as completion tokens, or no usage at all.
    """

    policy: BranchingPolicy
    prompt_ratio: float = 0.3
    completion_ratio: float = 0.5
    report_usage: bool = True
    requests: int = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        body = json.loads(request.content)
        text = self.policy(body["messages"])
        prompt_bytes = sum(len(m["content"].encode()) for m in body["messages"])
        prompt = int(prompt_bytes * self.prompt_ratio)
        completion = int(body["max_tokens"] * self.completion_ratio)
        data: dict[str, Any] = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
        }
        if self.report_usage:
            data["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return httpx2.Response(200, json=data)


def client(server: Server, max_tokens: int = 64) -> LLMClient:
    settings = LLMSettings(base_url="http://llm.test/v1", model="m", cache=False, max_tokens=max_tokens)
    transport = httpx2.MockTransport(server)
    return LLMClient(settings, http_client=httpx2.AsyncClient(transport=transport), environ={})


def llm_tree(llm: LLMClient, depth: int) -> Any:
    return hch_tree(LLMOverseer(llm, output="json_object"), LLMBaseModel(llm, output="json_object"), depth)


def check_bounds(path: Path, token_budget: int | None, *, model_calls: bool = True) -> list[NodeStart]:
    """Assert what a token budget promises of the run in ``path``; return its node starts."""
    events = read_transcript(path).events
    starts = [e for e in events if isinstance(e, NodeStart)]
    answers = {e.node_id: e for e in events if isinstance(e, NodeAnswer)}
    by_id = {e.node_id: e for e in starts}
    calls = [e for e in events if isinstance(e, ModelCall)]
    end = events[-1]
    assert isinstance(end, RunEnd) and end.status == "ok", end
    assert not any(isinstance(e, NodeError) for e in events)
    # Every node answered, within what it was handed.
    assert set(answers) == set(by_id)
    for start in starts:
        assert (start.token_budget is None) == (token_budget is None)
        if start.token_budget is not None:
            assert answers[start.node_id].tokens_spent <= start.token_budget
        if start.parent_id is not None and by_id[start.parent_id].token_budget is not None:
            assert start.token_budget is not None and start.token_budget <= by_id[start.parent_id].token_budget  # type: ignore[operator]
    # The root's spending is within the run's budget, and (model calls spending) the sum of what they were charged.
    spent = answers["0"].tokens_spent
    if model_calls:
        assert spent == sum(c.tokens for c in calls)
    if token_budget is not None:
        assert spent <= token_budget
    return starts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(0, 3),
    token_budget=st.one_of(st.none(), st.integers(1, 120_000)),
    budget=st.one_of(st.none(), st.integers(1, 40)),
    max_tokens=st.integers(1, 400),
    fanout=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
    prompt_ratio=st.floats(0, 1),
    completion_ratio=st.floats(0, 1),
    report_usage=st.booleans(),
)
async def test_no_run_and_no_subtree_exceeds_its_token_budget(
    tmp_path: Path,
    depth: int,
    token_budget: int | None,
    budget: int | None,
    max_tokens: int,
    fanout: tuple[int, ...],
    prompt_ratio: float,
    completion_ratio: float,
    report_usage: bool,
) -> None:
    server = Server(BranchingPolicy(fanout), prompt_ratio, completion_ratio, report_usage)
    path = tmp_path / f"run-{uuid.uuid4().hex}.jsonl"
    async with client(server, max_tokens) as llm:
        result = await run_question(
            llm_tree(llm, depth), "Q", transcript=path, budget=budget, token_budget=token_budget, max_subquestions=4
        )
    check_bounds(path, token_budget)
    assert result.tokens_spent == read_transcript(path).events[-2].tokens_spent  # type: ignore[union-attr]
    if token_budget is not None:
        assert result.tokens_spent <= token_budget


async def test_a_small_token_budget_narrows_the_tree_and_every_node_answers(tmp_path: Path) -> None:
    async def run(token_budget: int | None, name: str) -> list[NodeStart]:
        async with client(Server(BranchingPolicy((3, 3)))) as llm:
            await run_question(llm_tree(llm, 2), "Q", transcript=tmp_path / name, token_budget=token_budget)
        return check_bounds(tmp_path / name, token_budget)

    unbounded = await run(None, "free.jsonl")
    assert len(unbounded) == 13
    # Enough for the root's decompose and combine and three children answering directly, not more.
    narrow = await run(30_000, "narrow.jsonl")
    assert 1 < len(narrow) < len(unbounded)
    alone = await run(2_000, "alone.jsonl")
    assert len(alone) == 1


async def test_a_node_that_cannot_afford_to_answer_says_so_without_calling(tmp_path: Path) -> None:
    server = Server(BranchingPolicy(()))
    async with client(server) as llm:
        result = await run_question(llm_tree(llm, 1), "Q", transcript=tmp_path / "t.jsonl", token_budget=10)
    assert result.answer == NO_TOKENS_ANSWER
    assert server.requests == 0 and result.tokens_spent == 0
    assert result.counts["tokens_exhausted"] == 1


async def test_a_replay_charges_what_the_run_was_charged(tmp_path: Path) -> None:
    server = Server(BranchingPolicy((3, 2)), prompt_ratio=0.2, completion_ratio=0.3)
    async with client(server) as llm:
        original = await run_question(llm_tree(llm, 2), "Q", transcript=tmp_path / "run.jsonl", token_budget=60_000)
    recorded = read_transcript(tmp_path / "run.jsonl").events
    playback = Playback.from_events(recorded, strict=True)
    before = server.requests
    async with client(server) as llm:
        replayed = await run_question(
            llm_tree(llm, 2), "Q", transcript=tmp_path / "replay.jsonl", token_budget=60_000, playback=playback
        )
    assert server.requests == before  # nothing reached the server
    assert (replayed.answer, replayed.tokens_spent, replayed.nodes) == (
        original.answer,
        original.tokens_spent,
        original.nodes,
    )
    again = read_transcript(tmp_path / "replay.jsonl").events

    def shape(events: list[Any]) -> list[tuple[str, str, int]]:
        return sorted((e.node_id, e.kind, e.tokens_spent) for e in events if isinstance(e, NodeAnswer))

    assert shape(again) == shape(recorded)
    assert [c.tokens for c in again if isinstance(c, ModelCall)] == [
        c.tokens for c in recorded if isinstance(c, ModelCall)
    ]
    assert [e.questions for e in again if isinstance(e, Ask)] == [e.questions for e in recorded if isinstance(e, Ask)]


async def test_a_cache_hit_costs_nothing(tmp_path: Path) -> None:
    server = Server(BranchingPolicy(()))
    settings = LLMSettings(base_url="http://llm.test/v1", model="m", max_tokens=32)
    from hch.llm import CallCache

    cache = CallCache(tmp_path / "cache")
    spent = []
    for name in ("cold.jsonl", "warm.jsonl"):
        transport = httpx2.MockTransport(server)
        async with LLMClient(
            settings, cache=cache, http_client=httpx2.AsyncClient(transport=transport), environ={}
        ) as llm:
            result = await run_question(llm_tree(llm, 0), "Q", transcript=tmp_path / name, token_budget=5_000)
            spent.append(result.tokens_spent)
    assert spent[0] > 0 and spent[1] == 0
    assert server.requests == 1


def test_the_prompt_bound_counts_bytes_and_markup() -> None:
    request = {
        "messages": [{"role": "user", "content": "héllo"}],
        "max_tokens": 10,
        "response_format": None,
    }
    # "user" (4 bytes) + "héllo" (6 bytes) + one message's markup + the request's.
    assert prompt_bound(request) == 10 + MESSAGE_OVERHEAD + REQUEST_OVERHEAD
    assert reservation(request) == 10 + prompt_bound(request)


def test_a_budget_hands_out_reservations_and_takes_back_what_is_unused() -> None:
    budget = Budget(100)
    assert budget.reserve(60) and not budget.reserve(41)
    assert budget.left == 40
    budget.settle(60, 25)
    assert (budget.left, budget.spent, budget.reserved) == (75, 25, 0)
    assert budget.split(4, minimum=0) == 18 and budget.left == 3
    unbounded = Budget(None)
    assert unbounded.reserve(10**12) and unbounded.left is None


def test_a_token_budget_is_checked_against_its_stated_limit(tmp_path: Path) -> None:
    from hch.errors import UsageError
    from hch.testing import CountingLeaf

    with pytest.raises(UsageError, match="token budget must be at least 1"):
        import asyncio

        asyncio.run(run_question(CountingLeaf(), "q", transcript=tmp_path / "t.jsonl", token_budget=0))


async def test_show_and_the_page_give_tokens_spent_against_the_allotment(tmp_path: Path) -> None:
    from rich.console import Console

    from transcripts.html import page_data
    from transcripts.show import render_node, render_tree

    async with client(Server(BranchingPolicy((2,)))) as llm:
        result = await run_question(llm_tree(llm, 1), "Q", transcript=tmp_path / "t.jsonl", token_budget=40_000)
    transcript = read_transcript(tmp_path / "t.jsonl")
    console = Console(width=200, record=True)
    console.print(render_tree(transcript))
    console.print(render_node(transcript, "0.1"))
    text = console.export_text()
    assert f"token budget: {result.tokens_spent} of 40000 spent" in text
    child = next(e for e in transcript.events if isinstance(e, NodeStart) and e.node_id == "0.1")
    assert f"{child.token_budget} tokens, spent " in text
    data = page_data(transcript)
    assert data["header"]["settings"]["token_budget"] == 40_000
    assert data["nodes"][0]["tokens_spent"] == result.tokens_spent > 0
    assert data["nodes"][0]["token_budget"] == 40_000


@dataclass
class TokenLeaf:
    """A base model whose answer spends tokens the way a model call does: reserve, then settle with the cost."""

    reserve: int
    cost: int
    name: str = "token-leaf"
    level: int = 0

    async def answer(self, node: Node) -> str:
        if not node.tokens.reserve(self.reserve):
            return "0"  # cannot afford its call: answers without it
        node.tokens.settle(self.reserve, self.cost)
        return str(len(node.question))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(0, 4),
    token_budget=st.integers(1, 2_000),
    budget=st.one_of(st.none(), st.integers(1, 60)),
    fanout=st.integers(1, 5),
    reserve=st.integers(0, 80),
    used=st.floats(0, 1),
    question=st.text(alphabet="abcxyz", min_size=1, max_size=6),
)
async def test_shared_and_refused_subquestions_never_overdraw_a_token_budget(
    tmp_path: Path,
    depth: int,
    token_budget: int,
    budget: int | None,
    fanout: int,
    reserve: int,
    used: float,
    question: str,
) -> None:
    # The random overseer repeats subquestions (shared under the budget rule) and asks its ancestors' (refused).
    leaf = TokenLeaf(reserve, int(reserve * used))
    path = tmp_path / f"run-{uuid.uuid4().hex}.jsonl"
    result = await run_question(
        hch_tree(RandomOverseer(fanout=fanout), leaf, depth),
        question,
        transcript=path,
        budget=budget,
        token_budget=token_budget,
    )
    starts = check_bounds(path, token_budget, model_calls=False)
    assert result.tokens_spent <= token_budget
    leaves = [s for s in starts if s.level == 0]
    answers = {e.node_id: e for e in read_transcript(path).events if isinstance(e, NodeAnswer)}
    # What the run spent is what its leaves were charged, each once.
    assert result.tokens_spent == sum(answers[s.node_id].tokens_spent for s in leaves)
