"""`hch run` with the LLM overseer against the fault-injecting OpenAI-compatible server.

The server runs in this process (a thread); `hch run` runs as a real subprocess
talking to it over HTTP. The server's ``protocol`` answer preset plays a model that
follows the protocol: it asks three subquestions whenever it may, answers
leaves, and combines.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hch.llm.prompts import DEFAULT_PROMPTS
from hch.testing import FaultConfig, FaultServer
from transcripts import read_transcript
from transcripts.events import ModelCall, NodeAnswer, NodeStart, RunEnd

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many legs do three spiders and two ants have?"
KEY = "sk-fault-e2e-0123456789"


def hch(*args: str, home: Path, key: str | None = KEY, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
    env.update(HCH_HOME=str(home), COLUMNS="200")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "cli", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(FaultConfig(answer="protocol")) as s:
        yield s


def test_a_forty_node_tree_survives_faults_then_the_cache_serves_it_all(server: FaultServer, hch_home: Path) -> None:
    server.configure(p429=0.2, p500=0.1, p_malformed=0.05, retry_after_s=0.0, seed=7)
    args = (QUESTION, "--depth", "3", "--base-url", server.base_url, "--model", server.model)
    flags = ("--max-attempts", "10", "--timeout", "10", "--concurrency", "8", "--json")
    proc = hch(*args, *flags, home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["nodes"] == 40 and report["answer"] == "combined 3 answers"

    transcript = read_transcript(Path(report["transcript"]))
    started = {e.node_id for e in transcript.events if isinstance(e, NodeStart)}
    answered = {e.node_id for e in transcript.events if isinstance(e, NodeAnswer)}
    assert len(started) == 40 and answered == started
    calls = [e for e in transcript.events if isinstance(e, ModelCall)]
    assert Counter(c.purpose for c in calls) == {"decompose": 13, "combine": 13, "answer": 27}
    assert all(c.source == "network" and c.error is None for c in calls)
    outcomes = Counter(a["outcome"] for c in calls for a in c.attempts)
    assert outcomes["ok"] == 53
    assert outcomes["429"] > 0 and outcomes["500"] > 0 and outcomes["malformed"] > 0  # retries, recorded
    served = server.counters()["by_outcome"]
    assert served["ok"] == 53 and served["429"] == outcomes["429"]
    # The header says what the model was told and with which settings (no key).
    assert transcript.header.prompts == DEFAULT_PROMPTS.as_dict()
    llm = transcript.header.settings["spec"]["llm"]
    assert llm["base_url"] == server.base_url and llm["model"] == server.model
    assert KEY not in Path(report["transcript"]).read_text()

    server.reset()
    again = hch(*args, *flags, home=hch_home)
    assert again.returncode == 0, again.stderr
    assert server.counters()["requests"] == 0
    second = read_transcript(Path(json.loads(again.stdout)["transcript"]))
    assert {e.source for e in second.events if isinstance(e, ModelCall)} == {"cache"}
    assert json.loads(again.stdout)["answer"] == report["answer"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("case", ["unauthorized", "unknown_model", "unreachable", "stall"])
def test_failures_end_in_one_line_naming_the_cause_and_leave_a_transcript(
    server: FaultServer, hch_home: Path, case: str
) -> None:
    base_url, model, key = server.base_url, server.model, KEY
    expected: str
    if case == "unauthorized":
        server.configure(api_key="sk-the-right-key-000000")
        expected = r"401 Unauthorized .*OPENAI_API_KEY"
    elif case == "unknown_model":
        model = "no-such-model"
        expected = r"model 'no-such-model' not found"
    elif case == "unreachable":
        base_url = f"http://127.0.0.1:{_free_port()}/v1"
        expected = r"cannot connect to .*connection refused"
    else:
        server.configure(stall=True)
        expected = r"no response from .* within 1s \(timed out\)"
    proc = hch(
        QUESTION, "--depth", "2", "--base-url", base_url, "--model", model,
        "--timeout", "1", "--max-attempts", "2",
        home=hch_home, key=key, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    line = one_line_error(proc)
    assert re.search(expected, line), line
    assert key not in proc.stderr
    where = re.search(r"transcript of what finished: (\S+)\)$", line)
    assert where, line
    transcript = read_transcript(Path(where.group(1)))
    assert isinstance(transcript.end, RunEnd) and transcript.end.status == "error"
    failed = [e for e in transcript.events if isinstance(e, ModelCall) and e.error]
    assert failed and failed[0].purpose == "decompose"


def test_a_text_only_server_works_with_structured_output_off(server: FaultServer, hch_home: Path) -> None:
    def text_policy(messages: list[dict[str, Any]]) -> str:
        user = str(messages[-1]["content"])
        if "You may ask at most" in user:
            return "Let me split it.\nSUBQUESTIONS:\n1. How many legs has a spider?\n2. How many legs has an ant?"
        if DEFAULT_PROMPTS.answers_heading in user:
            return "ANSWER: 36"
        return "Eight or six, I think."

    server.answer_policy = text_policy
    proc = hch(
        QUESTION, "--depth", "1", "--base-url", server.base_url, "--model", server.model,
        "--structured-output", "text", "--json", home=hch_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["answer"] == "36" and report["nodes"] == 3
    calls = [e for e in read_transcript(Path(report["transcript"])).events if isinstance(e, ModelCall)]
    assert all(c.request["response_format"] is None for c in calls)
    assert [c.purpose for c in calls].count("repair") == 0
