"""The writer seals an event's fields as they are when canonical JSON can write them, and its
pydantic dump when it cannot: either way the line is the one the dump would give."""

from __future__ import annotations

import datetime
import enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from transcripts.chain import GENESIS, seal
from transcripts.events import Event, Header, ModelCall, NodeStart
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
