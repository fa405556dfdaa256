"""hch distill: the chat fine-tuning file, its validator (one test per kind of bad line), --submit and --status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hch.testing.fault_server import FaultConfig, FaultServer
from operators.imitative.chat import validate_chat_file
from tests.audit_helpers import hch, one_line_error


@pytest.fixture
def dataset(hch_home: Path) -> str:
    proc = hch(
        "amplify", "--task", "wildcard", "--n", "12", "--size", "16", "--depth", "4", "--name", "w", home=hch_home
    )
    assert proc.returncode == 0, proc.stderr
    return "w"


def test_the_chat_file_passes_the_validator(dataset: str, hch_home: Path, tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    proc = hch("distill", dataset, "--format", "chat", "--out", str(chat), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["distilled"]["kind"] == "memorising" and report["chat"]["ok"] is True
    rows = [json.loads(line) for line in chat.read_text().splitlines()]
    examples = [json.loads(line) for line in (hch_home / "datasets" / "w" / "examples.jsonl").read_text().splitlines()]
    assert [r["messages"][1]["content"] for r in rows] == [e["question"] for e in examples]
    assert [r["messages"][2] for r in rows] == [{"role": "assistant", "content": e["answer"]} for e in examples]
    proc = hch("dataset", "validate", str(chat), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stdout
    checked = json.loads(proc.stdout)
    assert checked["ok"] and checked["examples"] == 12 and checked["tokens"]["total"] > 12 * 3
    proc = hch("distill", dataset, "--format", "chat", "--out", str(chat), home=hch_home)
    assert proc.returncode == 2 and "already exists" in one_line_error(proc)


GOOD = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
BAD_LINES = {
    "format_error": "{not json",
    "missing_messages_list": json.dumps({"prompt": "q", "completion": "a"}),
    "message_unrecognized_key": json.dumps(
        {"messages": [{"role": "user", "content": "q", "mood": "x"}, {"role": "assistant", "content": "a"}]}
    ),
    "unrecognized_role": json.dumps(
        {"messages": [{"role": "robot", "content": "q"}, {"role": "assistant", "content": "a"}]}
    ),
    "missing_content": json.dumps(
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}
    ),
    "missing_assistant_message": json.dumps({"messages": [{"role": "user", "content": "q"}]}),
    "assistant_not_last": json.dumps(
        {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}
    ),
    "invalid_weight": json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}]}
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_the_validator_names_each_kind_of_bad_line(kind: str, tmp_path: Path, hch_home: Path) -> None:
    lines = [json.dumps(GOOD)] * 12
    lines.insert(7, BAD_LINES[kind])
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = validate_chat_file(path)
    assert [(b.line, b.kind) for b in report.bad] == [(8, kind)]
    assert report.examples == 12 and not report.problems
    proc = hch("dataset", "validate", str(path), home=hch_home)
    assert proc.returncode == 1 and f"chat.jsonl:8: {kind}:" in proc.stdout


def test_the_validator_wants_ten_examples(tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text((json.dumps(GOOD) + "\n") * 9)
    report = validate_chat_file(path)
    assert not report.ok and not report.bad and "at least 10" in report.problems[0]
    path.write_text((json.dumps(GOOD) + "\n") * 10)
    assert validate_chat_file(path).ok


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(FaultConfig(fine_tuning=True)) as s:
        yield s


def test_submit_creates_a_job_and_status_follows_it(
    dataset: str, server: FaultServer, hch_home: Path, tmp_path: Path
) -> None:
    chat = tmp_path / "chat.jsonl"
    endpoint = ["--base-url", server.base_url, "--model", server.model]
    proc = hch(
        "distill", dataset, "--format", "chat", "--out", str(chat), "--submit", *endpoint, "--json", home=hch_home
    )
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)["job"]
    assert job["id"].startswith("ftjob-") and job["status"] == "validating_files" and job["model"] == server.model
    uploaded = server.fine_tuning.contents[job["training_file"]]
    assert uploaded == chat.read_bytes()  # the file the validator passed is the file the job trains on
    states = []
    for _ in range(3):
        proc = hch("distill", "--status", job["id"], *endpoint, "--json", home=hch_home)
        assert proc.returncode == 0, proc.stderr
        states.append(json.loads(proc.stdout)["job"])
    assert [s["status"] for s in states] == ["queued", "running", "succeeded"]
    assert states[-1]["fine_tuned_model"] == f"ft:{server.model}:hch:{job['id']}"
    proc = hch("distill", "--status", "ftjob-999999", *endpoint, home=hch_home)
    assert proc.returncode == 1 and "no job 'ftjob-999999'" in one_line_error(proc)


def test_an_endpoint_without_the_api_is_named_clearly(dataset: str, hch_home: Path, tmp_path: Path) -> None:
    with FaultServer(FaultConfig()) as plain:
        endpoint = ["--base-url", plain.base_url, "--model", plain.model]
        chat = tmp_path / "chat.jsonl"
        proc = hch("distill", dataset, "--format", "chat", "--out", str(chat), "--submit", *endpoint, home=hch_home)
        assert proc.returncode == 1
        message = one_line_error(proc)
        assert "has no fine-tuning API" in message and "train the file locally with TRL" in message
        assert chat.exists()  # the file was written and stays: it can be trained elsewhere
        proc = hch("distill", "--status", "ftjob-1", *endpoint, home=hch_home)
        assert proc.returncode == 1 and "has no fine-tuning API" in one_line_error(proc)


async def test_an_endpoint_that_cannot_be_reached_is_a_one_line_error(tmp_path: Path) -> None:
    from hch.llm.settings import LLMSettings
    from operators.imitative.finetune import FineTuningError, status, submit

    closed = LLMSettings(model="m", base_url="http://127.0.0.1:9/v1")  # nothing listens there
    chat = tmp_path / "chat.jsonl"
    chat.write_text("{}\n")
    for call in (status(closed, "ftjob-1", environ={}), submit(closed, chat, environ={})):
        with pytest.raises(FineTuningError, match=r"^cannot connect to http://127\.0\.0\.1:9/v1: "):
            await call
