"""`hch replay`: offline re-execution from the transcript, node-by-node comparison, first divergence."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from hch import Amp, Model, Node, Overseer, Workspace, hch_tree
from hch.app.replay import NetworkGuard, llm_settings_of, replay_transcript, spec_of
from hch.app.spec import build_model
from hch.executor import run_question
from hch.llm.client import LLMClient
from hch.llm.errors import ModelCallError
from hch.llm.overseer import LLMBaseModel, LLMOverseer
from hch.llm.prompts import DEFAULT_PROMPTS
from hch.llm.settings import LLMSettings
from hch.tasks import lookup
from hch.testing import BranchingPolicy, FaultConfig, FaultServer
from tests.audit_helpers import (
    ROOT,
    edit_line,
    hch,
    lines_of,
    llm_run_args,
    one_line_error,
    task_run,
    task_spec,
    write_lines,
)
from tests.llm_helpers import make_node
from transcripts.diff import diff_runs
from transcripts.events import Event, ModelCall, Reuse
from transcripts.reader import read_transcript


@pytest.fixture
async def run_file(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "run.jsonl", task_spec(task="assignments", seed=2, depth=6))


def test_replay_of_an_unchanged_run_is_identical(run_file: Path, hch_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay.jsonl"
    proc = hch("replay", str(run_file), "--transcript", str(out), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("identical: final answer")
    assert "0 network requests" in proc.stdout
    replayed = read_transcript(out)
    original = read_transcript(run_file)
    assert replayed.header.settings["replay_of"]["run_id"] == original.header.run_id
    assert replayed.header.settings["spec"] == original.header.settings["spec"]
    assert replayed.end is not None and original.end is not None and replayed.end.answer == original.end.answer
    report = json.loads(hch("replay", str(run_file), "--json", home=hch_home).stdout)
    assert report["identical"] is True and report["first_divergence"] is None and report["nodes"] > 10


def test_an_edited_oracle_answer_is_named_as_the_divergence(run_file: Path, hch_home: Path, tmp_path: Path) -> None:
    lines = lines_of(run_file)
    index = next(i for i, line in enumerate(lines) if '"oracle_call"' in line and '"unknown"' not in line)
    call = json.loads(lines[index])
    edited = write_lines(tmp_path / "edited.jsonl", edit_line(lines, index, answer="999"))
    proc = hch("replay", str(edited), "--json", home=hch_home)
    assert proc.returncode == 2  # a file that fails verification is refused (tests/test_integrity_first.py)
    assert f"{edited}:{index + 1}: edited" in one_line_error(proc)
    # Replayed on purpose, the edit is named where it changes the tree.
    proc = hch("replay", str(edited), "--json", "--trust-edited", home=hch_home)
    assert proc.returncode == 1, proc.stderr
    first = json.loads(proc.stdout)["first_divergence"]
    assert first["node_id"] == call["node_id"]
    assert first["produced"] != first["expected"]
    proc = hch("replay", str(edited), "--trust-edited", home=hch_home)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"diverged at node {call['node_id']} ")
    assert "expected" in proc.stdout and "produced" in proc.stdout


async def test_changed_code_is_named_where_it_changes_the_tree(run_file: Path, tmp_path: Path) -> None:
    """Today's code against yesterday's records: an overseer that now answers one node differently."""
    original = read_transcript(run_file)
    model = build_model(spec_of(original))
    target = next(e.node_id for e in original.events if e.kind == "answer" and e.node_id.count(".") == 2)

    @dataclass
    class Tweaked:
        inner: Overseer

        @property
        def name(self) -> str:
            return self.inner.name

        async def __call__(self, ws: Workspace) -> str:
            answer = await self.inner(ws)
            return "7" if ws.node.node_id == target else answer

    def tweak(m: Model) -> Model:
        return Amp(Tweaked(m.overseer), tweak(m.model)) if isinstance(m, Amp) else m

    report = await replay_transcript(original, tweak(model), transcript=tmp_path / "r.jsonl")
    assert not report.identical
    first = report.diff.first
    assert first is not None and first.node_id == target and first.what in ("answer", "start")
    assert report.summary().startswith(f"diverged at node {target} ")
    # The replay is compared as it ran, not read back: what it compared is what its file holds.
    written = read_transcript(tmp_path / "r.jsonl")
    assert report.replayed.header == written.header and report.replayed.events == written.events
    assert report.run_error is None and report.replayed.cut is None
    assert diff_runs(original, written).nodes == report.diff.nodes


def test_replay_refuses_a_cut_run_and_a_run_without_spec(run_file: Path, hch_home: Path, tmp_path: Path) -> None:
    cut = write_lines(tmp_path / "cut.jsonl", lines_of(run_file)[:20])
    proc = hch("replay", str(cut), home=hch_home)
    assert proc.returncode == 2
    assert f"{cut}:20: no run_end" in one_line_error(proc) and "--resume" in proc.stderr
    nospec = write_lines(tmp_path / "nospec.jsonl", [])
    lines = lines_of(run_file)
    header = json.loads(lines[0])
    del header["settings"]["spec"]
    write_lines(nospec, [json.dumps(header), *lines[1:]])
    proc = hch("replay", str(nospec), home=hch_home)
    assert proc.returncode == 2 and f"{nospec}:1: header has no run spec" in one_line_error(proc)


@dataclass
class SharedLeafOverseer:
    """Root asks two branches; each asks the same leaf question; branch delays decide who works it."""

    delays: dict[str, float]
    name: str = "shared-leaf"

    async def __call__(self, ws: Workspace) -> str:
        if ws.node.node_id == "0":
            return "+".join(await ws.ask("left", "right"))
        await asyncio.sleep(self.delays.get(ws.question, 0.0))
        (answer,) = await ws.ask("shared leaf")
        return f"{ws.question}:{answer}"


@dataclass
class RecordedLeaf:
    name: str = "leaf"
    level: int = 0

    async def answer(self, node: Node) -> str:
        return await lookup(node, node.question, lambda: node.question.upper())


async def test_who_worked_a_shared_subquestion_follows_the_recording(tmp_path: Path) -> None:
    """Which of two identical subquestions is worked depends on timing; replay must follow the record."""
    path = tmp_path / "slow-left.jsonl"
    await run_question(hch_tree(SharedLeafOverseer({"left": 0.05}), RecordedLeaf(), 2), "q", transcript=path)
    original = read_transcript(path)
    reuse = next(e for e in original.events if isinstance(e, Reuse))
    assert reuse.child_id == "0.0.0" and reuse.source_id == "0.1.0"  # right asked first
    # Today there is no delay: left asks first. The replay must still match node for node.
    model = hch_tree(SharedLeafOverseer({"right": 0.05}), RecordedLeaf(), 2)
    report = await replay_transcript(original, model, transcript=tmp_path / "r.jsonl")
    assert report.identical, report.summary()


# -- LLM runs against the fault server -------------------------------------------------------


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, BranchingPolicy]]:
    """A 161-node, 214-call LLM run made through the CLI; the server is switched off afterwards."""
    home = tmp_path_factory.mktemp("llm-home")
    path = home / "llm.jsonl"
    policy = BranchingPolicy()
    with FaultServer(FaultConfig(), answer=policy) as server:
        proc = hch(*llm_run_args(server.base_url, server.model), "--transcript", str(path), home=home)
        assert proc.returncode == 0, proc.stderr
        assert server.counters()["chat_requests"] == 214
    yield path, home, policy


def test_replay_of_an_llm_run_with_the_endpoint_off_is_identical_with_zero_requests(
    llm_run: tuple[Path, Path, BranchingPolicy], tmp_path: Path
) -> None:
    path, home, policy = llm_run
    served = len(policy.log)
    original = read_transcript(path)
    assert sum(e.kind == "node_start" for e in original.events) >= 100
    out = tmp_path / "replay.jsonl"
    proc = hch("replay", str(path), "--transcript", str(out), "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identical"] is True and report["network_requests"] == 0 and report["nodes"] == 161
    assert len(policy.log) == served  # nothing reached the (stopped) server's policy either
    calls = [e for e in read_transcript(out).events if isinstance(e, ModelCall)]
    assert len(calls) == 214 and {c.source for c in calls} == {"transcript"}
    proc = hch("replay", str(path), home=home)
    assert proc.returncode == 0 and proc.stdout.startswith("identical:") and "0 network requests" in proc.stdout
    # Nothing is sent, so the OpenAI SDK is never loaded (it is a third of the command's time),
    # and a tree without people loads nothing of theirs (what they may type, their sessions).
    probe = (
        "import json, sys\nfrom cli import app\ntry:\n"
        f"    app(['replay', {str(path)!r}, '--transcript', {str(tmp_path / 'probe.jsonl')!r}])\n"
        "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {**os.environ, "HCH_HOME": str(home)}
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    modules = set(json.loads(loaded.stdout.splitlines()[-1]))
    assert "openai" not in {m.split(".")[0] for m in modules}
    assert not modules & {"hch.human.commands", "hch.human.session", "hch.human.drafter"}


@pytest.mark.parametrize("purpose", ["answer", "decompose", "combine"])
def test_an_edited_model_response_is_named_as_the_divergence(
    llm_run: tuple[Path, Path, BranchingPolicy], tmp_path: Path, purpose: str
) -> None:
    path, home, _ = llm_run
    lines = lines_of(path)
    index = [i for i, line in enumerate(lines) if f'"purpose":"{purpose}"' in line][7]
    call = json.loads(lines[index])
    reply = {"answer": "EDITED"} if purpose != "decompose" else {"action": "ask", "subquestions": ["edited?"]}
    edited = write_lines(tmp_path / "edited.jsonl", edit_line(lines, index, response=json.dumps(reply)))
    proc = hch("replay", str(edited), "--json", "--trust-edited", home=home)
    assert proc.returncode == 1, proc.stderr
    first = json.loads(proc.stdout)["first_divergence"]
    assert first["node_id"] == call["node_id"]
    assert first["what"] == ("ask" if purpose == "decompose" else "answer")
    assert ("edited?" if purpose == "decompose" else "EDITED") in first["produced"]
    assert ("edited?" if purpose == "decompose" else "EDITED") not in first["expected"]
    proc = hch("verify", str(edited), home=home)
    assert proc.returncode == 1 and f":{index + 1}: edited" in proc.stdout


async def test_a_changed_prompt_is_named_where_its_first_request_changes(
    llm_run: tuple[Path, Path, BranchingPolicy], tmp_path: Path
) -> None:
    """Today's prompts against yesterday's responses: the first changed request is the divergence."""
    path, _, _ = llm_run
    original = read_transcript(path)
    spec = spec_of(original)
    changed = dataclasses.replace(DEFAULT_PROMPTS, direct_user="Question: $question\n$budget\nBe brief.")
    guard = NetworkGuard()
    settings = llm_settings_of(original, spec, cache=False, max_attempts=1)
    async with httpx2.AsyncClient(transport=guard.transport()) as http:
        client = LLMClient(settings, http_client=http, environ={})
        model = hch_tree(
            LLMOverseer(client, changed, spec.max_subquestions, name=f"llm:{settings.model}"),
            LLMBaseModel(client, changed, name=f"llm:{settings.model}"),
            spec.depth,
        )
        report = await replay_transcript(original, model, transcript=tmp_path / "r.jsonl", guard=guard)
        await client.aclose()
    assert not report.identical and guard.attempts == 0
    first = report.diff.first
    assert first is not None
    # Only the leaves' prompt changed: the first leaf to call is the divergence, and it is a leaf.
    first_leaf_call = next(e for e in original.events if isinstance(e, ModelCall) and e.purpose == "answer")
    assert first.node_id == first_leaf_call.node_id and first.node_id.count(".") == spec.depth
    assert "answer model call" in first.expected and "Divergence" in first.produced


def test_replay_never_overwrites_a_file(run_file: Path, hch_home: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    proc = hch("replay", str(run_file), "--transcript", str(taken), home=hch_home)
    assert proc.returncode == 2 and f"--transcript {taken} already exists" in one_line_error(proc)
    assert taken.read_text() == "keep me\n"


async def test_the_offline_http_client_is_made_only_when_a_request_is_tried_and_refuses_it(tmp_path: Path) -> None:
    """A replay's model client gets a function that makes its HTTP client (see hch.app.replay.reopen):
    nothing is made (nor httpx2 loaded) unless a request is tried, and the guard refuses that one."""
    guard, made = NetworkGuard(), []

    def offline() -> httpx2.AsyncClient:
        made.append(True)
        return httpx2.AsyncClient(transport=guard.transport(), trust_env=False)

    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", cache=False, max_attempts=1)
    client = LLMClient(settings, http_client=offline, environ={})
    events: list[Event] = []
    node, writer = make_node(tmp_path, events)
    assert not made
    with pytest.raises(ModelCallError):
        await client.chat(node, [{"role": "user", "content": "q"}], purpose="answer")
    writer.close()
    await client.aclose()
    assert made == [True] and guard.attempts == 1
    await LLMClient(settings, http_client=offline, environ={}).aclose()  # closing one that sent nothing makes none
    assert made == [True]
