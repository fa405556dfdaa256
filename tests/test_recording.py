"""The record-or-replay primitive: live, replayed, missing from the playback, divergent, failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hch.budget import Budget
from hch.context import RunContext
from hch.node import Node
from hch.playback import Divergence, Playback
from hch.recording import CallFailed, record_or_replay
from transcripts.events import Event, OracleCall


class ListRecorder:
    """A recorder that keeps events in a list: the engine needs no transcript file (hch.protocols.Recorder)."""

    path = None

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def close(self) -> None:
        pass


class Harness:
    """A node whose run records into ``events``, and a live call that counts how often it ran."""

    def __init__(self, playback: Playback | None) -> None:
        self.recorder = ListRecorder()
        self.events = self.recorder.events
        run = RunContext(writer=self.recorder, max_subquestions=4, playback=playback)
        self.node = Node("0.1", "0", "q", 0, None, Budget(None), run)
        self.live_calls = 0

    def event(self, key: str, answer: str) -> OracleCall:
        return OracleCall(node_id=self.node.node_id, request_hash=key, question="what?", answer=answer)

    async def call(self, key: str) -> OracleCall:
        async def live() -> OracleCall:
            self.live_calls += 1
            return self.event(key, "live answer")

        return await record_or_replay(
            self.node, OracleCall, key, live, lambda record: self.event(key, f"replayed {record.answer}")
        )

    @property
    def recorded(self) -> list[OracleCall]:
        return [e for e in self.events if isinstance(e, OracleCall)]


Make = Callable[..., Harness]
"""Builds a harness, with the playback given (default: none)."""


@pytest.fixture
def make() -> Make:
    def build(playback: Playback | None = None) -> Harness:
        return Harness(playback)

    return build


def recorded(answer: str, key: str = "h", node_id: str = "0.1") -> OracleCall:
    return OracleCall(node_id=node_id, request_hash=key, question="what?", answer=answer)


async def test_without_a_playback_the_call_is_made_live_and_recorded(make: Make) -> None:
    h = make()
    event = await h.call("h")
    assert event.answer == "live answer" and h.live_calls == 1
    assert [(e.node_id, e.request_hash, e.answer) for e in h.recorded] == [("0.1", "h", "live answer")]


async def test_a_recorded_call_is_given_back_and_recorded_again_without_running_live(make: Make) -> None:
    h = make(Playback.from_events([recorded("old")], strict=True))
    event = await h.call("h")
    assert event.answer == "replayed old" and h.live_calls == 0
    assert [e.answer for e in h.recorded] == ["replayed old"]


async def test_strict_replay_of_an_unrecorded_call_diverges_and_records_nothing(make: Make) -> None:
    h = make(Playback.from_events([], strict=True))
    with pytest.raises(Divergence, match=r"node 0\.1: oracle_call request h was not recorded"):
        await h.call("h")
    assert h.live_calls == 0 and h.recorded == []


async def test_resume_makes_an_unrecorded_call_live(make: Make) -> None:
    h = make(Playback.from_events([recorded("old", key="other")], strict=False))
    event = await h.call("h")
    assert event.answer == "live answer" and h.live_calls == 1
    assert [e.answer for e in h.recorded] == ["live answer"]


async def test_a_changed_request_is_a_divergence_that_says_so(make: Make) -> None:
    h = make(Playback.from_events([recorded("old", key="before")], strict=True))
    with pytest.raises(Divergence, match="the request changed"):
        await h.call("after")
    assert h.live_calls == 0 and h.recorded == []


async def test_records_are_consumed_in_order_then_resume_goes_live(make: Make) -> None:
    h = make(Playback.from_events([recorded("one"), recorded("two")], strict=False))
    answers = [(await h.call("h")).answer for _ in range(3)]
    assert answers == ["replayed one", "replayed two", "live answer"] and h.live_calls == 1


async def test_a_record_that_cannot_be_given_back_runs_live(make: Make) -> None:
    h = make(Playback.from_events([recorded("old")], strict=True))

    async def live() -> OracleCall:
        return h.event("h", "live answer")

    event = await record_or_replay(h.node, OracleCall, "h", live, lambda record: None)
    assert event.answer == "live answer"


async def test_a_failed_live_call_is_recorded_then_its_error_raised(make: Make) -> None:
    h = make()
    error = ValueError("the oracle broke")

    async def live() -> OracleCall:
        raise CallFailed(h.event("h", "failed"), error)

    with pytest.raises(ValueError, match="the oracle broke") as raised:
        await record_or_replay(h.node, OracleCall, "h", live, lambda record: record)
    assert raised.value is error and raised.value.__context__ is None
    assert [e.answer for e in h.recorded] == ["failed"]


async def test_a_cancelled_live_call_is_recorded_and_stays_cancelled(make: Make) -> None:
    h = make()

    async def live() -> OracleCall:
        raise CallFailed(h.event("h", "cancelled"), asyncio.CancelledError())

    with pytest.raises(asyncio.CancelledError):
        await record_or_replay(h.node, OracleCall, "h", live, lambda record: record)
    assert [e.answer for e in h.recorded] == ["cancelled"]


async def test_an_error_that_is_not_a_call_failure_records_nothing(make: Make) -> None:
    h = make()

    async def live() -> OracleCall:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        await record_or_replay(h.node, OracleCall, "h", live, lambda record: record)
    assert h.recorded == []
