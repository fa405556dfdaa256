"""The published transcript schema: up to date, valid, and satisfied by real transcripts; old versions upgrade."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.audit_helpers import edit_line, hch, lines_of, task_run, write_lines
from transcripts import reader
from transcripts.events import SCHEMA_VERSION
from transcripts.reader import TranscriptError, read_transcript
from transcripts.schema import PUBLISHED_PATH, schema_text, transcript_schema
from transcripts.verify import verify_transcript


def test_the_committed_schema_is_up_to_date() -> None:
    assert PUBLISHED_PATH.read_text() == schema_text(), "regenerate: hch schema > docs/transcript-schema.json"


def test_hch_schema_prints_it(hch_home: Path) -> None:
    proc = hch("schema", home=hch_home)
    assert proc.returncode == 0 and json.loads(proc.stdout) == transcript_schema()


async def test_every_line_of_a_run_satisfies_the_schema(tmp_path: Path) -> None:
    path = await task_run(tmp_path / "run.jsonl")
    schema = transcript_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    kinds = set()
    for n, line in enumerate(lines_of(path), start=1):
        data = json.loads(line)
        errors = list(validator.iter_errors(data))
        assert not errors, f"line {n}: {errors[0].message}"
        kinds.add(data["kind"])
    assert {"header", "node_start", "ask", "oracle_call", "answer", "run_end"} <= kinds
    # And the schema rejects what the reader rejects.
    assert list(validator.iter_errors({**json.loads(lines_of(path)[1]), "hash": "nothex"}))
    assert list(validator.iter_errors({**json.loads(lines_of(path)[0]), "schema_version": SCHEMA_VERSION + 1}))
    assert list(validator.iter_errors({"kind": "answer", "node_id": "0", "answer": "1", "spent": 1}))


async def test_an_older_version_is_read_through_its_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan for old files: each version step has an upgrade function; the chain is checked on the bytes."""
    path = await task_run(tmp_path / "run.jsonl")
    lines = lines_of(path)
    # Pretend the previous version called the answer event's field "text".
    old_lines = []
    for line in lines:
        data: dict[str, Any] = json.loads(line)
        if data["kind"] == "header":
            data["schema_version"] = SCHEMA_VERSION - 1
        if data["kind"] == "answer":
            data["text"] = data.pop("answer")
        old_lines.append(json.dumps(data))
    old = write_lines(tmp_path / "old.jsonl", old_lines)
    with pytest.raises(TranscriptError, match=rf":1: schema version {SCHEMA_VERSION - 1} is not supported"):
        read_transcript(old)

    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        if data["kind"] == "header":
            data["schema_version"] += 1
        if data["kind"] == "answer":
            data["answer"] = data.pop("text")
        return data

    monkeypatch.setitem(reader.UPGRADES, SCHEMA_VERSION - 1, upgrade)
    upgraded = read_transcript(old)
    assert upgraded.schema_version == SCHEMA_VERSION - 1
    assert upgraded.events == read_transcript(path).events  # hashes, seq and all
    # The chain is over the bytes as written: editing the old file is still detected.
    assert not verify_transcript(old).ok  # these lines were rewritten above, so their hashes no longer match
    assert verify_transcript(old).problems[0].line == 1


def test_a_newer_version_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    write_lines(path, [json.dumps({"kind": "header", "schema_version": SCHEMA_VERSION + 1})])
    with pytest.raises(TranscriptError, match=r"new.jsonl:1: schema version .* written by a newer hch"):
        read_transcript(path)


def test_a_header_with_unknown_fields_names_them(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    write_lines(path, edit_line([json.dumps({"kind": "header", "schema_version": SCHEMA_VERSION})], 0, junk=1))
    with pytest.raises(TranscriptError, match=r"x.jsonl:1: invalid 'header' event"):
        read_transcript(path)
