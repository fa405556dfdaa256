"""The writer seals an event's fields as they are when canonical JSON can write them, and its
pydantic dump when it cannot: either way the line is the one the dump would give."""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import queue
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from transcripts.chain import GENESIS, seal
from transcripts.events import Ask, Event, Header, ModelCall, NodeAnswer, NodeStart, may_hold_floats
from transcripts.writer import TranscriptWriter


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Name(str):
    pass


class Inner(BaseModel):
    x: int


ODD_VALUES: list[Any] = [
    (1, "tuple"),
    {3, 1, 2},
    Colour.RED,
    Size.BIG,
    Name("subclassed"),
    Inner(x=1),
    datetime.date(2026, 12, 3),
    b"bytes",
    2**70,
    1e-07,
    {1: "int key"},
    [float("nan")],
]


def events(value: Any) -> list[Event]:
    return [
        ModelCall(node_id="0", purpose="answer", request={"odd": value}, request_hash="h", response="r"),
        ModelCall(node_id="0", purpose="answer", request={}, request_hash="h", response="r", attempts=[{"v": value}]),
        NodeStart(node_id="0", parent_id=None, question="q", level=1, budget=None, worker="w"),
    ]


def dumped_line(prev_hash: str, event: Event) -> tuple[str, bytes]:
    """The line the definition gives: pydantic's JSON dump of the stamped event, sealed."""
    fields = event.model_dump(mode="json", exclude={"hash"})
    return seal(prev_hash, fields)


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: type(v).__name__)
def test_every_line_is_the_line_of_the_events_dump(tmp_path: Path, value: Any) -> None:
    header = Header(run_id="r", created="now", hch_version="t", question="q", settings={"odd": value})
    writer = TranscriptWriter(tmp_path / "t.jsonl", header)
    written: list[Event] = [header]
    for event in events(value):
        written.append(writer.emit(event))
    writer.close()

    lines = (tmp_path / "t.jsonl").read_bytes().splitlines(keepends=True)
    prev = GENESIS
    for event, line in zip(written, lines, strict=True):
        digest, expected = dumped_line(prev, event)
        assert (event.hash, line) == (digest, expected)
        prev = digest


class FloatFree(BaseModel):
    time: float = 0.0  # the writer's own, always a Unix time
    a: int | None
    b: list[str]
    c: dict[str, int]
    d: Literal["x", 3]


class Floating(BaseModel):
    a: list[dict[str, float]]


class Untyped(BaseModel):
    a: dict[str, Any]


class Nested(BaseModel):
    a: Inner | None


def test_events_are_searched_for_floats_when_their_fields_may_hold_one() -> None:
    assert not may_hold_floats(FloatFree)
    assert may_hold_floats(Floating) and may_hold_floats(Untyped) and may_hold_floats(Nested)
    assert not may_hold_floats(NodeStart) and not may_hold_floats(Ask) and not may_hold_floats(NodeAnswer)
    assert may_hold_floats(ModelCall) and may_hold_floats(Header)


@pytest.mark.parametrize("text", ["1e-05", "0.00001", "1.5e-7"])
def test_text_that_reads_like_a_float_is_written_as_text(tmp_path: Path, text: str) -> None:
    writer = TranscriptWriter(tmp_path / "t.jsonl", Header(run_id="r", created="now", hch_version="t", question="q"))
    event = writer.emit(NodeAnswer(node_id="0", answer=text, spent=1))
    writer.close()
    line = (tmp_path / "t.jsonl").read_bytes().splitlines(keepends=True)[1]
    assert (event.hash, line) == dumped_line(writer.header.hash, event)


class SpyQueue:
    """The writer's queue, noting what is put in it."""

    def __init__(self, queue: queue.SimpleQueue[object]) -> None:
        self.queue = queue
        self.handed: list[object] = []

    def put(self, item: object) -> None:
        self.handed.append(item)
        self.queue.put(item)

    def get(self) -> object:
        return self.queue.get()


def spy_on_hand_overs(writer: TranscriptWriter, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the writer hands its thread, in order (it is still handed on)."""
    spy = SpyQueue(writer._queue)
    monkeypatch.setattr(writer, "_queue", spy)
    return spy.handed


def start(node_id: str) -> NodeStart:
    return NodeStart(node_id=node_id, parent_id=None, question="q", level=1, budget=None, worker="w")


async def test_the_lines_of_one_turn_of_the_loop_reach_the_thread_together_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = TranscriptWriter(tmp_path / "t.jsonl", Header(run_id="r", created="now", hch_version="t", question="q"))
    handed = spy_on_hand_overs(writer, monkeypatch)
    for i in range(3):
        writer.emit(start(str(i)))
    assert handed == []  # the turn is not over
    await asyncio.sleep(0)
    assert len(handed) == 1  # one batch: the header's line and the three starts
    writer.emit(start("3"))
    writer.close()  # hands over what the turn holds before it ends
    assert len(handed) == 3 and handed[2] is not None
    lines = (tmp_path / "t.jsonl").read_bytes().splitlines()
    assert b"".join(line + b"\n" for line in lines) == b"".join(h for h in handed if isinstance(h, bytes))
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3, 4]


def test_without_a_loop_each_line_reaches_the_thread_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = TranscriptWriter(tmp_path / "t.jsonl", Header(run_id="r", created="now", hch_version="t", question="q"))
    handed = spy_on_hand_overs(writer, monkeypatch)
    writer.emit(start("0"))
    writer.emit(start("1"))
    assert len(handed) == 2
    writer.close()
    assert len((tmp_path / "t.jsonl").read_bytes().splitlines()) == 3
