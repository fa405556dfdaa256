"""People and the LLM in one tree, in-process: the real LLM client and overseer against the fault server.

The keyboard is scripted here; test_human_terminal.py drives the same things through a real terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from hch import hch_tree
from hch.app.replay import NetworkGuard, replay_transcript
from hch.executor import run_question
from hch.human.build import human_tree
from hch.human.drafter import LLMDrafter
from hch.human.workers import HumanOverseer
from hch.llm import LLMClient, LLMSettings
from hch.llm.overseer import LLMBaseModel, LLMOverseer
from hch.testing import FaultConfig, FaultServer
from tests.human_helpers import scripted_console, timed_console, tree_policy
from transcripts.events import HumanInput, ModelCall, NodeAnswer
from transcripts.reader import read_transcript


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(FaultConfig(), answer=tree_policy) as s:
        yield s


def client_for(server: FaultServer) -> LLMClient:
    return LLMClient(LLMSettings(base_url=server.base_url, model=server.model, cache=False, max_attempts=2))


async def test_policy_drives_the_llm_overseer(server: FaultServer, tmp_path: Path) -> None:
    async with client_for(server) as client:
        model = hch_tree(LLMOverseer(client), LLMBaseModel(client), 1)
        result = await run_question(model, "Split: x", transcript=tmp_path / "run.jsonl")
    assert result.answer == "ans(x part 1?) + ans(x part 2?)"


async def test_human_root_llm_below_and_replay(server: FaultServer, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    console, _ = scripted_console(["ask Split: a | What is b?", "answer done"])
    async with client_for(server) as client:
        llm = LLMOverseer(client)
        model = human_tree(2, {0}, console=console, overseer=llm, base=LLMBaseModel(client))
        spec = {"question": "root", "depth": 2}
        result = await run_question(model, "root", transcript=path, settings={"spec": spec})
    assert result.answer == "done"
    answers = {e.node_id: e.answer for e in read_transcript(path).events if isinstance(e, NodeAnswer)}
    assert answers["0.0"] == "ans(a part 1?) + ans(a part 2?)"
    assert answers["0.1"] == "direct(What is b?)"
    # Replayed with the network refused and no keyboard: identical.
    silent, _ = scripted_console([])
    guard = NetworkGuard()
    refused = httpx2.AsyncClient(transport=guard.transport())
    settings = LLMSettings(base_url=server.base_url, model=server.model, cache=False)
    async with LLMClient(settings, http_client=refused) as offline:
        llm2 = LLMOverseer(offline)
        again = human_tree(2, {0}, console=silent, overseer=llm2, base=LLMBaseModel(offline))
        report = await replay_transcript(read_transcript(path), again, transcript=tmp_path / "replay.jsonl")
    assert report.identical, report.summary()
    assert silent.inputs == 0 and guard.attempts == 0


async def test_llm_branches_land_while_the_person_is_typing(tmp_path: Path) -> None:
    with FaultServer(FaultConfig(latency_s=0.3), answer=tree_policy) as slow:
        # The person answers once every LLM answer is on their screen.
        console, lines, screen = timed_console(
            [
                (0.0, "ask Split: a | Split: b"),
                (lambda: "all subquestions are answered" in screen.getvalue(), "answer x"),
            ]
        )
        path = tmp_path / "run.jsonl"
        async with client_for(slow) as client:
            llm = LLMOverseer(client)
            model = human_tree(2, {0}, console=console, overseer=llm, base=LLMBaseModel(client))
            await run_question(model, "root", transcript=path)
    opened, closed = lines.prompts_open[1]
    events = read_transcript(path).events
    landed = [e for e in events if isinstance(e, NodeAnswer) and e.node_id != "0"]
    assert len(landed) == 6  # two LLM overseers, four LLM leaves
    assert all(opened < e.time < closed for e in landed)


async def test_augmented_mode_with_the_llm_drafting(server: FaultServer, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    console, _ = scripted_console(["ok", "ok"])
    async with client_for(server) as client:
        person = HumanOverseer(console, mode="augmented", drafter=LLMDrafter(client))
        model = hch_tree(person, LLMBaseModel(client), 1)
        result = await run_question(model, "Split: z", transcript=path)
    assert result.answer == "ans(z part 1?) + ans(z part 2?)"
    calls = [e for e in read_transcript(path).events if isinstance(e, ModelCall) and e.node_id == "0"]
    assert [c.purpose for c in calls] == ["decompose", "combine"]
    inputs = [e for e in read_transcript(path).events if isinstance(e, HumanInput)]
    assert "LLM draft: ask z part 1? | z part 2?" in inputs[0].shown


async def test_review_mode_rejection_reaches_the_llm(server: FaultServer, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    console, _ = scripted_console(["n only one part please", "y", "y"])
    async with client_for(server) as client:
        person = HumanOverseer(console, mode="review", drafter=LLMDrafter(client))
        model = hch_tree(person, LLMBaseModel(client), 1)
        result = await run_question(model, "Split: z", transcript=path)
    assert result.answer == "ans(z as told (only one part please)?)"
    calls = [e for e in read_transcript(path).events if isinstance(e, ModelCall) and e.node_id == "0"]
    retry = calls[1].request["messages"]
    assert any("only one part please" in m["content"] and "rejected" in m["content"] for m in retry)
