"""`hch run --resume`: a cut run continues from its transcript; completed calls are not made again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hch.app.replay import live_model, resume_run
from hch.testing import BranchingPolicy, FaultConfig, FaultServer, request_key
from tests.audit_helpers import (
    ROOT,
    hch,
    lines_of,
    llm_run_args,
    one_line_error,
    task_run,
    task_spec,
)
from transcripts.diff import diff_runs
from transcripts.events import ModelCall, OracleCall
from transcripts.reader import read_transcript
from transcripts.verify import verify_transcript


@pytest.fixture
async def full_run(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "full.jsonl", task_spec(task="wildcard", seed=5, depth=6, size=48))


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.37, 0.5, 0.71, 0.9, 0.999])
async def test_resuming_a_cut_run_gives_the_uninterrupted_result(
    full_run: Path, tmp_path: Path, fraction: float
) -> None:
    blob = full_run.read_bytes()  # noqa: ASYNC240 (a test's setup)
    header_end = blob.index(b"\n") + 1
    at = header_end + int((len(blob) - header_end) * fraction)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(blob[:at])  # usually mid-line, as a SIGKILL leaves it
    original = read_transcript(cut)
    assert original.cut is not None
    async with live_model(original) as (model, prompts):
        resumed = await resume_run(original, model, transcript=tmp_path / "resumed.jsonl", prompts=prompts)
    full = read_transcript(full_run)
    new = read_transcript(tmp_path / "resumed.jsonl")
    assert new.end is not None and full.end is not None and new.end.answer == full.end.answer
    # Every recorded lookup was given back rather than looked up again.
    recorded = sum(isinstance(e, OracleCall) for e in original.events)
    assert resumed.reused_calls == recorded
    # The resumed run is the same tree as the uninterrupted one, node for node.
    assert diff_runs(full, new).identical
    # It is a complete transcript of its own that names what it resumed; the cut file is untouched.
    assert verify_transcript(tmp_path / "resumed.jsonl").ok
    lineage = new.header.settings["resumed_from"]
    assert lineage["path"] == str(cut) and lineage["run_id"] == original.header.run_id
    assert cut.read_bytes() == blob[:at]


async def test_resume_on_the_command_line(full_run: Path, tmp_path: Path, hch_home: Path) -> None:
    lines = lines_of(full_run)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(line + "\n" for line in lines[: len(lines) // 2]))
    out = tmp_path / "resumed.jsonl"
    proc = hch("run", "--resume", str(cut), "--transcript", str(out), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    full = read_transcript(full_run)
    assert full.end is not None and report["answer"] == full.end.answer and report["match"] is True
    assert report["calls_from_transcript"] == sum('"oracle_call"' in line for line in lines[: len(lines) // 2])
    assert report["resumed_from"] == str(cut)
    # Resuming the resumed (finished) run gives every call back.
    proc = hch("run", "--resume", str(out), "--json", home=hch_home)
    assert proc.returncode == 0 and json.loads(proc.stdout)["calls_from_transcript"] == report["calls"]


async def test_flags_that_contradict_the_transcript_are_refused(full_run: Path, tmp_path: Path, hch_home: Path) -> None:
    spec = read_transcript(full_run).header.settings["spec"]
    proc = hch("run", "--resume", str(full_run), "--depth", "2", home=hch_home)
    assert proc.returncode == 2 and "--depth 2 conflicts with --resume" in one_line_error(proc)
    proc = hch("run", "--resume", str(full_run), "--task", "permutation", home=hch_home)
    assert proc.returncode == 2 and "--task permutation conflicts" in one_line_error(proc)
    proc = hch("run", "other question", "--resume", str(full_run), home=hch_home)
    assert proc.returncode == 2 and "QUESTION other question conflicts" in one_line_error(proc)
    proc = hch("run", "--resume", str(full_run), "--facts", str(full_run), home=hch_home)
    assert proc.returncode == 2 and "--facts cannot be combined with --resume" in one_line_error(proc)
    # Repeating the recorded values is fine.
    proc = hch("run", "--resume", str(full_run), "--depth", str(spec["depth"]), "--task", "wildcard", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    proc = hch("run", "--resume", str(full_run), "--transcript", str(full_run), home=hch_home)
    assert proc.returncode == 2 and "is the transcript being resumed" in one_line_error(proc)
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    proc = hch("run", "--resume", str(full_run), "--transcript", str(taken), home=hch_home)
    assert proc.returncode == 2 and f"--transcript {taken} already exists" in one_line_error(proc)
    assert taken.read_text() == "keep me\n"


def test_resume_of_malformed_input_is_exit_2(tmp_path: Path, hch_home: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header", "schema_version": 7}\n')
    proc = hch("run", "--resume", str(bad), home=hch_home)
    assert proc.returncode == 2 and f"{bad}:1: schema version 7" in one_line_error(proc)


@pytest.mark.slow  # five hch processes killed and resumed, about 30 s
def test_a_run_killed_by_sigkill_at_five_random_moments_resumes_to_the_same_answer(
    tmp_path: Path, hch_home: Path
) -> None:
    """A 214-call LLM run against a server with latency, killed with SIGKILL 5 times and resumed each time.

    The server logs every request it answered; a call completed before the
    kill (its response is in the cut transcript) must never reach it again.
    The only calls made twice are the ones the killed run sent but had not
    recorded when it died (in flight, or answered but not yet on disk). How many
    those are depends on timing, so the test counts them exactly instead of
    bounding them.
    """
    policy = BranchingPolicy()
    rng = random.Random(20261123)
    env = {**os.environ, "HCH_HOME": str(hch_home)}
    with FaultServer(FaultConfig(latency_s=0.02), answer=policy) as server:
        args = llm_run_args(server.base_url, server.model)
        proc = hch(*args, "--transcript", str(tmp_path / "full.jsonl"), home=hch_home)
        assert proc.returncode == 0, proc.stderr
        expected = json.loads(proc.stdout)["answer"]
        full = read_transcript(tmp_path / "full.jsonl")
        calls = server.counters()["chat_requests"]
        assert calls == 214
        lines = len(lines_of(tmp_path / "full.jsonl"))

        for k in range(5):
            server.reset()
            policy.log.clear()
            cut = tmp_path / f"cut{k}.jsonl"
            kill_at = rng.randint(3, lines - 10)  # kill once the transcript has this many lines
            child = subprocess.Popen(
                [sys.executable, "-m", "cli", *args, "--transcript", str(cut)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while child.poll() is None and time.monotonic() < deadline:
                if cut.exists() and cut.read_bytes().count(b"\n") >= kill_at:
                    break
                time.sleep(0.002)
            assert child.poll() is None, "the run ended before it could be killed"
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            server.wait_idle()  # the server finishes (or drops) what the dead process had in flight

            killed = read_transcript(cut)
            assert killed.cut is not None and killed.end is None
            completed = {
                request_key(e.request["messages"])
                for e in killed.events
                if isinstance(e, ModelCall) and e.response is not None
            }
            sent_by_killed = set(policy.log)
            assert completed <= sent_by_killed
            policy.log.clear()
            resumed_path = tmp_path / f"resumed{k}.jsonl"
            proc = hch("run", "--resume", str(cut), "--transcript", str(resumed_path), "--json", home=hch_home)
            assert proc.returncode == 0, proc.stderr
            report = json.loads(proc.stdout)
            assert report["answer"] == expected
            assert report["calls_from_transcript"] == len(completed)
            # No completed call reached the server again; the resume made exactly the calls
            # that were not on disk, so the only work done twice is what the kill lost.
            assert not completed & set(policy.log)
            assert len(policy.log) == calls - len(completed)
            # Answered requests, the killed run's and the resume's. A request the kill cut
            # mid-body reaches the server truncated and is refused (400), never answered.
            outcomes = server.counters()["by_outcome"]
            assert set(outcomes) <= {"ok", "400"}, outcomes
            assert outcomes["ok"] == calls + len(sent_by_killed - completed)
            # The resumed run is the uninterrupted run, node for node.
            assert diff_runs(full, read_transcript(resumed_path)).identical
