"""Datasets with provenance: writing, strict reading, verification, path confinement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from hch.app.evaluate import instances
from hch.app.spec import RunSpec, TaskSpec
from hch.tasks import find_task
from operators.batch import run_batch
from operators.dataset import (
    Dataset,
    DatasetError,
    DatasetWriter,
    Example,
    confined,
    dataset_dir,
    open_dataset,
    verify_dataset,
)
from transcripts.events import NodeAnswer
from transcripts.reader import read_transcript


class QA(Example):
    """A test payload: a question and the tree's answer, with its subquestions."""

    KIND: ClassVar[str] = "test-qa"
    CLAIMS: ClassVar[dict[str, str]] = {
        "question": "node.question",
        "answer": "node.answer",
        "subquestions": "node.subquestions",
    }

    question: str
    answer: str
    subquestions: list[dict[str, str | None]]


class Other(Example):
    KIND: ClassVar[str] = "test-other"
    CLAIMS: ClassVar[dict[str, str]] = {"answer": "node.answer"}

    answer: str


def specs(task: str = "permutation", n: int = 4, depth: int = 6) -> list[RunSpec]:
    cases = instances(find_task(task), n, 0, 16)
    return [RunSpec(question=c.question, depth=depth, task=TaskSpec(name=task, facts=c.facts)) for c in cases]


async def build(name: str = "qa", task: str = "permutation", n: int = 4) -> Dataset:
    writer = DatasetWriter(dataset_dir(name), QA, operator="test", task=task, round=1, settings={"n": n})
    results = await run_batch(specs(task, n), writer.transcripts)
    for r in results:
        transcript = read_transcript(r.transcript)
        answer = next(e for e in transcript.events if isinstance(e, NodeAnswer) and e.node_id == "0")
        subs: list[dict[str, str | None]] = [
            {"question": c["question"], "answer": c["answer"], "status": c["status"]}
            for c in _children(transcript, answer.seq)
        ]
        writer.add(
            QA(
                provenance=writer.cite(transcript, answer),
                question=r.spec.question,
                answer=answer.answer,
                subquestions=subs,
            )
        )
    return writer.finish()


def _children(transcript: object, seq: int) -> list[dict[str, str]]:
    from operators.dataset import node_view

    assert hasattr(transcript, "events")
    events = transcript.events
    subs = node_view(events[:seq], events[seq - 1], "0").node["subquestions"]
    assert isinstance(subs, list)
    return subs


async def test_an_untouched_dataset_verifies_and_reads_back() -> None:
    dataset = await build()
    report = verify_dataset(dataset)
    assert report.ok, report.summary()
    assert report.examples == 4 and report.transcripts == 4
    examples = dataset.examples(QA, task="permutation")
    assert [e.provenance.transcript for e in examples] == [f"transcripts/{i:05d}.jsonl" for i in range(4)]
    manifest = json.loads((dataset.folder / "manifest.json").read_text())
    assert manifest["operator"] == "test" and manifest["round"] == 1 and manifest["examples"] == 4
    assert manifest["claims"] == QA.CLAIMS
    assert all(len(t["head"]) == 64 for t in manifest["transcripts"])
    assert examples[0].subquestions, "the decomposition is kept with the example"


async def test_an_edited_answer_is_named_by_its_line() -> None:
    dataset = await build()
    lines = dataset.examples_path.read_text().splitlines()
    data = json.loads(lines[2])
    data["answer"] = str(int(data["answer"]) + 1)
    lines[2] = json.dumps(data)
    dataset.examples_path.write_text("\n".join(lines) + "\n")
    report = verify_dataset(dataset)
    assert not report.ok
    named = [p.line for p in report.problems if p.line is not None]
    assert named == [3]
    assert "is not what the tree produced" in report.summary()
    with pytest.raises(DatasetError, match=r"examples\.jsonl:3: edited since the dataset was sealed"):
        dataset.examples(QA)


async def test_an_edited_subanswer_is_caught_too() -> None:
    dataset = await build()
    lines = dataset.examples_path.read_text().splitlines()
    data = json.loads(lines[0])
    data["subquestions"][0]["answer"] = "999"
    lines[0] = json.dumps(data)
    dataset.examples_path.write_text("\n".join(lines) + "\n")
    assert [p.line for p in verify_dataset(dataset).problems if p.line is not None] == [1]


async def test_an_edited_transcript_breaks_the_examples_that_cite_it() -> None:
    dataset = await build()
    path = dataset.folder / "transcripts" / "00001.jsonl"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        event = json.loads(line)
        if event["kind"] == "answer" and event["node_id"] == "0":
            event["answer"] = "63"
            lines[i] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")
    report = verify_dataset(dataset)
    assert [p.line for p in report.problems if p.line is not None] == [2]
    assert any("edited" in p.message for p in report.problems if p.line is None)


async def test_strict_reading_names_file_and_line() -> None:
    dataset = await build()
    path = dataset.examples_path
    original = path.read_bytes()

    path.write_bytes(original[:-30])  # cut mid-line
    with pytest.raises(DatasetError, match=r"examples\.jsonl:4: truncated"):
        dataset.examples(QA)
    path.write_bytes(b"".join(original.splitlines(keepends=True)[:3]))  # a whole line removed
    with pytest.raises(DatasetError, match=r"examples\.jsonl:3: 3 example\(s\), but the manifest says 4"):
        dataset.examples(QA)
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"examples\.jsonl:1: the dataset is empty"):
        dataset.examples(QA)
    path.write_bytes(original.replace(b'{"provenance"', b'not json{"provenance"', 1))
    with pytest.raises(DatasetError, match=r"examples\.jsonl:1: not JSON"):
        dataset.examples(QA)
    path.write_bytes(original)
    with pytest.raises(DatasetError, match=r"manifest\.json:1: a dataset of task 'permutation', not 'wildcard'"):
        dataset.examples(QA, task="wildcard")
    with pytest.raises(DatasetError, match=r"manifest\.json:1: holds 'test-qa' examples, not 'test-other'"):
        dataset.examples(Other)
    assert len(dataset.examples(QA)) == 4


async def test_empty_datasets_and_overwrites_are_refused() -> None:
    writer = DatasetWriter(dataset_dir("empty"), QA, operator="test")
    with pytest.raises(DatasetError, match="empty dataset is refused"):
        writer.finish()
    await build("twice")
    with pytest.raises(DatasetError, match="never overwritten"):
        DatasetWriter(dataset_dir("twice"), QA, operator="test")
    with pytest.raises(DatasetError, match="dataset name"):
        dataset_dir("../escape")


async def test_paths_read_from_a_dataset_stay_in_its_folder(tmp_path: Path) -> None:
    dataset = await build()
    root = dataset.folder
    for bad in ("/etc/passwd", "../other/x.jsonl", "transcripts/../../x", "C:/x", "a\\b", ""):
        with pytest.raises(DatasetError, match="dataset folder"):
            confined(root, bad, "here")
    outside = tmp_path / "outside.jsonl"
    outside.write_text("{}")
    (root / "transcripts" / "link.jsonl").symlink_to(outside)
    with pytest.raises(DatasetError, match="leads outside"):
        confined(root, "transcripts/link.jsonl", "here")

    manifest = json.loads((root / "manifest.json").read_text())
    manifest["transcripts"][0]["path"] = "../../../etc/passwd"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=r"manifest\.json:1: path '../../../etc/passwd' must be relative"):
        open_dataset(root)

    manifest["transcripts"][0]["path"] = "transcripts/00000.jsonl"
    (root / "manifest.json").write_text(json.dumps(manifest))
    lines = dataset.examples_path.read_text().splitlines()
    data = json.loads(lines[1])
    data["provenance"]["transcript"] = "/etc/passwd"
    lines[1] = json.dumps(data)
    dataset.examples_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"examples\.jsonl:2: path '/etc/passwd' must be relative"):
        open_dataset(root).examples(QA)


async def test_a_broken_manifest_is_one_line_error() -> None:
    dataset = await build()
    (dataset.folder / "manifest.json").write_text('{"format": "hch-dataset", "name": ')
    with pytest.raises(DatasetError, match=r"manifest\.json:1: not JSON"):
        open_dataset(dataset.folder)
    with pytest.raises(DatasetError, match="no such dataset"):
        open_dataset("missing")
