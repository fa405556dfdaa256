"""Free-text debate against a real HTTP model server (hch.testing's fault server with scripted policies)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hch.app.replay import offline_model, replay_transcript
from hch.llm.settings import LLMSettings
from hch.testing import FaultConfig, FaultServer
from operators.dataset import DatasetWriter, open_dataset, verify_dataset
from operators.debate.free import cut_words, mark_quotes
from operators.debate.judges import parse_verdict
from operators.debate.runner import DebateExample, free_debates, run_debates
from operators.paths import dataset_dir
from operators.questions import FreeQuestion
from transcripts import read_transcript
from transcripts.events import DebateTurn, ModelCall

SOURCE = (
    "The lighthouse on Gull Rock was built in 1871 by the engineer Mara Voss. "
    "The last keeper, Tomas Brenn, left the rock in 1962."
)
QUESTIONS = [
    FreeQuestion(question="Who built the lighthouse?", reference="Mara Voss", incorrect="Tomas Brenn"),
    FreeQuestion(question="When did the keeper leave?", reference="1962", incorrect="1871"),
]


def debater_reply(system: str) -> str:
    """Quote the source for the answer argued: a true quote exists only for the correct answer."""
    answer = re.search(r"answer is: (.*?)\. The other", system)
    assert answer is not None
    argued = answer.group(1)
    quote = {"Mara Voss": "by the engineer Mara Voss", "Tomas Brenn": "by the engineer Tomas Brenn"}.get(
        argued, f"left the rock in {argued}"
    )
    return f"The text settles it: <quote>{quote}</quote> So the answer is {argued}. " + "More words here. " * 40


def quote_checking_judge(user: str) -> str:
    """Pick the debater whose quotes were verified."""
    for position in ("A", "B"):
        if re.search(rf"^\[\d+\] {position}: .*<v_quote>", user, re.MULTILINE):
            return json.dumps({"winner": position, "reason": f"{position}'s quote is verified"})
    return json.dumps({"winner": "A", "reason": "no verified quote"})


def policy(biased: bool):  # type: ignore[no-untyped-def]
    def answer(messages: list[dict[str, Any]]) -> str:
        system = str(messages[0]["content"])
        user = str(messages[-1]["content"])
        if system.startswith("You judge a debate"):
            return json.dumps({"winner": "A", "reason": "A spoke first"}) if biased else quote_checking_judge(user)
        return debater_reply(system)

    return answer


async def debate_against(server: FaultServer, home: Path, name: str, **kw: Any) -> tuple[Any, Any]:
    settings = LLMSettings(base_url=server.base_url, model=server.model, cache=False, max_attempts=1)
    specs = free_debates(QUESTIONS, turns=2, judge="llm", word_limit=25, source=SOURCE)
    specs = [s.model_copy(update={"llm": settings, "structured_output": "json_schema"}) for s in specs]
    writer = DatasetWriter(dataset_dir(name), DebateExample, operator="debate")
    return await run_debates(specs, writer)


async def test_quotes_are_verified_and_the_judge_sees_marks_but_not_the_source(hch_home: Path) -> None:
    with FaultServer(FaultConfig(models=None), answer=policy(biased=False)) as server:
        summary, dataset = await debate_against(server, hch_home, "quotes")
    assert summary.judge_accuracy == 1.0 and summary.honest_win_rate == 1.0
    assert summary.win_rate_by_position() == {"A": 0.5, "B": 0.5}
    assert len(summary.examples) == 4  # two questions, each in both orders
    for path in summary.transcripts:
        events = read_transcript(path).events
        turns = [e for e in events if isinstance(e, DebateTurn)]
        assert len(turns) == 4  # 2 rounds x 2 debaters
        for turn in turns:
            assert len(turn.text.split()) <= 26  # the word limit (25) and the cut mark
            (quote,) = turn.quotes
            assert quote["verified"] is (turn.side == "honest")
        (judge_call,) = [e for e in events if isinstance(e, ModelCall) and e.purpose == "judge"]
        shown = judge_call.request["messages"][-1]["content"]
        assert "<v_quote>" in shown and "<u_quote>" in shown
        assert "built in 1871" not in shown  # the judge never sees the source
    assert verify_dataset(dataset).ok


async def test_swapping_positions_exposes_a_position_biased_judge(hch_home: Path) -> None:
    with FaultServer(FaultConfig(models=None), answer=policy(biased=True)) as server:
        summary, _ = await debate_against(server, hch_home, "biased")
    assert summary.win_rate_by_position() == {"A": 1.0, "B": 0.0}
    assert summary.judge_accuracy == 0.5


async def test_a_free_text_debate_replays_identically_offline(hch_home: Path, tmp_path: Path) -> None:
    with FaultServer(FaultConfig(models=None), answer=policy(biased=False)) as server:
        summary, _ = await debate_against(server, hch_home, "replayed")
    original = read_transcript(summary.transcripts[1])
    async with offline_model(original) as (model, prompts, guard):
        report = await replay_transcript(original, model, transcript=tmp_path / "r.jsonl", prompts=prompts, guard=guard)
    assert report.identical, report.summary()
    assert report.network_requests == 0


async def test_an_edited_verdict_in_the_dataset_is_named(hch_home: Path) -> None:
    with FaultServer(FaultConfig(models=None), answer=policy(biased=False)) as server:
        _, dataset = await debate_against(server, hch_home, "edited")
    lines = dataset.examples_path.read_text().splitlines()
    example = json.loads(lines[2])
    example["winner"] = "B" if example["winner"] == "A" else "A"
    lines[2] = json.dumps(example)
    dataset.examples_path.write_text("\n".join(lines) + "\n")
    report = verify_dataset(open_dataset(dataset.folder))
    assert not report.ok
    assert any(p.line == 3 and "winner" in p.message for p in report.problems), report.summary()


def test_quote_marking_and_word_cuts() -> None:
    marked, quotes = mark_quotes("see <quote> built in 1871 </quote> and <quote>built in 1872</quote>", SOURCE)
    assert marked == "see <v_quote>built in 1871</v_quote> and <u_quote>built in 1872</u_quote>"
    assert quotes == [{"text": "built in 1871", "verified": True}, {"text": "built in 1872", "verified": False}]
    assert mark_quotes("<quote>built</quote>", None)[1] == [{"text": "built", "verified": False}]
    assert cut_words("one  two\nthree four", 3) == "one two three …"
    assert cut_words("one two", 3) == "one two"


def test_verdict_parsing() -> None:
    decision = parse_verdict('{"winner": "B", "reason": "B quoted the text"}')
    assert decision is not None and decision.winner == "B" and decision.reason == "B quoted the text"
    decision = parse_verdict("I think A is right.")
    assert decision is not None and decision.winner == "A"
    assert parse_verdict("no idea") is None
