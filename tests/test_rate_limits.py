"""Rate limits slow a run down instead of ending it: adaptive concurrency, 429s bounded by the wait, not attempts.

The retry rules themselves are tested with the other client tests (tests/test_llm_client.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hch import hch_tree, run_question
from hch.llm import LLMClient, LLMSettings
from hch.llm.concurrency import AdaptiveLimit
from hch.testing import FanOut, FaultConfig, FaultServer, LLMLeaf
from transcripts import read_transcript
from transcripts.events import ModelCall, NodeAnswer, NodeStart


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_429_lowers_the_limit_once_per_episode_and_clean_calls_raise_it_back() -> None:
    clock = Clock()
    limit = AdaptiveLimit(8, cooldown_s=5, clock=clock)
    limit.rate_limited()
    assert limit.limit == 6
    limit.rate_limited()  # the same episode: calls in flight fail together
    assert limit.limit == 6
    clock.now = 6
    limit.rate_limited()
    assert limit.limit == 4 and limit.lowest == 4
    limit.succeeded(first_attempt=True)  # still cooling down: tells nothing
    clock.now = 20
    for _ in range(3):
        limit.succeeded(first_attempt=True)
    limit.succeeded(first_attempt=False)  # needed a retry: not a sign of room
    assert limit.limit == 4
    limit.succeeded(first_attempt=True)
    assert limit.limit == 5
    for _ in range(100):
        limit.succeeded(first_attempt=True)
    assert limit.limit == 8  # never above the user's ceiling


def test_the_limit_never_drops_below_one() -> None:
    clock = Clock()
    limit = AdaptiveLimit(2, cooldown_s=1, clock=clock)
    for step in range(5):
        clock.now = step * 2
        limit.rate_limited()
    assert limit.limit == 1


async def test_a_lowered_limit_admits_fewer_attempts_at_once() -> None:
    limit = AdaptiveLimit(4, cooldown_s=60)
    limit.rate_limited()  # 4 -> 3
    inside = most = 0

    async def attempt() -> None:
        nonlocal inside, most
        async with limit:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(attempt() for _ in range(12)))
    assert most == 3 and limit.in_flight == 0


async def test_a_cancelled_waiter_leaves_its_place_to_the_next() -> None:
    limit = AdaptiveLimit(1)
    await limit.__aenter__()
    waiting = asyncio.create_task(limit.__aenter__())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await limit.__aexit__(None, None, None)
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.__aenter__(), 1)
    assert limit.in_flight == 1


def test_max_wait_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        LLMSettings(model="m", max_wait_s=float("inf"))


async def test_a_wide_tree_under_heavy_rate_limiting_finishes_with_fewer_calls_in_flight(tmp_path: Path) -> None:
    config = FaultConfig(p429=0.5, retry_after_s=0.02, p500=0.05, latency_s=0.01, seed=5)
    with FaultServer(config) as server:
        settings = LLMSettings(
            base_url=server.base_url,
            model=server.model,
            concurrency=8,
            max_attempts=3,
            max_wait_s=30,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            cache=False,
        )
        async with LLMClient(settings) as client:
            path = tmp_path / "t.jsonl"
            result = await run_question(
                hch_tree(FanOut(4), LLMLeaf(client), 2), "q", transcript=path, max_subquestions=4
            )
        served = server.counters()["by_outcome"]
    assert result.nodes == 21
    events = read_transcript(path).events
    assert {e.node_id for e in events if isinstance(e, NodeAnswer)} == {
        e.node_id for e in events if isinstance(e, NodeStart)
    }
    calls = [e for e in events if isinstance(e, ModelCall)]
    assert len(calls) == 16 and all(c.error is None for c in calls)
    assert served["429"] > 0 and client.limit.lowest < 8
