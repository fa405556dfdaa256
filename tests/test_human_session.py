"""A person working nodes, driven in-process by scripted keyboards (no terminal needed).

The driven-terminal acceptance tests are in test_human_terminal.py; these
pin down the prompt loop, the recording, replay and resume, and the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hch import Workspace, hch_tree
from hch.errors import UsageError
from hch.executor import run_question
from hch.human.console import HumanConsole, HumanStopped
from hch.human.workers import HumanBaseModel, HumanOverseer
from hch.playback import Divergence, Playback
from hch.protocols import Model
from hch.step import Step
from hch.testing import CountingLeaf
from tests.human_helpers import scripted_console, timed_console
from transcripts.events import Ask, HumanInput, NodeAnswer, Refusal
from transcripts.reader import read_transcript


async def run(model: Model, path: Path, question: str = "root question", budget: int | None = None) -> str:
    spec = {"question": question, "depth": model.level, "budget": budget}
    result = await run_question(model, question, transcript=path, budget=budget, settings={"spec": spec})
    return result.answer


def human_inputs(path: Path) -> list[HumanInput]:
    return [e for e in read_transcript(path).events if isinstance(e, HumanInput)]


async def test_person_asks_two_subquestions_and_answers(tmp_path: Path) -> None:
    console, screen = scripted_console(["ask What is a? | What is bb?", "answer a and bb"])
    leaf = CountingLeaf(delay=0.01)
    path = tmp_path / "run.jsonl"
    answer = await run(hch_tree(HumanOverseer(console), leaf, 1), path, budget=10)
    assert answer == "a and bb"
    assert leaf.calls == {"What is a?": 1, "What is bb?": 1}
    inputs = human_inputs(path)
    assert [i.typed for i in inputs] == ["ask What is a? | What is bb?", "answer a and bb"]
    assert all(i.node_id == "0" and i.prompt == "command" and i.seconds >= 0 for i in inputs)
    # What the person saw: the question, the bounds, and (before answering) the prompt with pending answers.
    assert "root question" in inputs[0].shown and "budget: 9 call(s) left" in inputs[0].shown
    assert "depth left: 1" in inputs[0].shown
    events = read_transcript(path).events
    assert [e.questions for e in events if isinstance(e, Ask)] == [["What is a?", "What is bb?"]]
    assert read_transcript(path).events[0].worker == "human"  # type: ignore[union-attr]
    out = screen.getvalue()
    assert "answered node 0" in out


async def test_replay_feeds_recorded_input_back_without_a_terminal(tmp_path: Path) -> None:
    from hch.app.replay import replay_transcript

    console, _ = scripted_console(["ask What is a? | What is bb?", "note careful", "answer", "two", "lines", "."])
    path = tmp_path / "run.jsonl"
    await run(hch_tree(HumanOverseer(console), CountingLeaf(delay=0.02), 1), path, budget=10)
    # The replay's console has no keyboard: pytest's stdin is not a terminal, so any live read would fail.
    silent = HumanConsole(handle_sigint=False)
    model = hch_tree(HumanOverseer(silent), CountingLeaf(), 1)
    report = await replay_transcript(read_transcript(path), model, transcript=tmp_path / "replay.jsonl")
    assert report.run_error is None
    assert report.identical, report.summary()
    assert report.diff.final_b == "two\nlines"
    assert silent.inputs == 0
    assert [i.typed for i in human_inputs(tmp_path / "replay.jsonl")] == [i.typed for i in human_inputs(path)]


async def test_replay_of_changed_input_is_a_divergence(tmp_path: Path) -> None:
    console, _ = scripted_console(["answer 1"])
    path = tmp_path / "run.jsonl"
    await run(hch_tree(HumanOverseer(console), CountingLeaf(), 1), path)
    playback = Playback.from_events(read_transcript(path).events, strict=True)
    silent = HumanConsole(handle_sigint=False)
    with pytest.raises(Divergence, match="human_input"):
        # Another question means another request: nothing recorded matches it.
        await run_question(
            hch_tree(HumanOverseer(silent), CountingLeaf(), 1),
            "another question",
            transcript=tmp_path / "replay.jsonl",
            playback=playback,
        )


async def test_hints_reprompt_and_are_shown(tmp_path: Path) -> None:
    console, screen = scripted_console(["", "bogus words", "ask a ||b", "?", "ask root question", "answer ok"])
    path = tmp_path / "run.jsonl"
    assert await run(hch_tree(HumanOverseer(console), CountingLeaf(), 1), path, question="root question") == "ok"
    inputs = human_inputs(path)
    assert [i.typed for i in inputs] == ["", "bogus words", "ask a ||b", "?", "ask root question", "answer ok"]
    # Each hint is on the screen before the next prompt, so it is in the next input's `shown`.
    assert "nothing typed" in inputs[1].shown
    assert "unknown command 'bogus'" in inputs[2].shown
    assert "subquestion is empty" in inputs[3].shown
    assert "ask Q1 | Q2" in inputs[4].shown  # the help
    assert "would recurse forever" in inputs[5].shown
    assert not [e for e in read_transcript(path).events if isinstance(e, Ask)]  # nothing malformed was asked
    assert screen.getvalue().count("[0]> ") == 6


async def test_multi_line_answer_notes_and_subquestions(tmp_path: Path) -> None:
    lines = ["note", "first thought", "second thought", ".", "ask", "What is x?", "", "What is yy?", ".", "show"]
    lines += ["answer", "line one", "", "line three", "."]
    console, _ = scripted_console(lines)
    leaf = CountingLeaf()
    path = tmp_path / "run.jsonl"
    answer = await run(hch_tree(HumanOverseer(console), leaf, 1), path)
    assert answer == "line one\n\nline three"
    assert set(leaf.calls) == {"What is x?", "What is yy?"}
    inputs = human_inputs(path)
    assert [i.prompt for i in inputs] == [
        "command",
        "note-text",
        "command",
        "subquestions",
        "command",
        "command",
        "answer-text",
    ]
    show = inputs[5].shown + inputs[6].shown
    assert "first thought" in show and "What is yy? → 11" in show


async def test_end_of_input_stops_cleanly_with_a_message(tmp_path: Path) -> None:
    console, _ = scripted_console(["ask What is a?"])
    path = tmp_path / "run.jsonl"
    with pytest.raises(HumanStopped, match=r"input ended \(Ctrl-D or stdin closed\) at the prompt of node 0") as info:
        await run(hch_tree(HumanOverseer(console), CountingLeaf(delay=0.01), 1), path)
    assert "hch run --resume" in str(info.value) and str(path) in str(info.value)
    end = read_transcript(path).end
    assert end is not None and end.status == "error" and "HumanStopped" in (end.error or "")


async def test_without_a_terminal_a_live_prompt_fails_at_once(tmp_path: Path) -> None:
    console = HumanConsole(handle_sigint=False)  # no keyboard given, and pytest's stdin is not a tty
    with pytest.raises(UsageError, match="standard input is not a terminal"):
        await run(hch_tree(HumanOverseer(console), CountingLeaf(), 1), tmp_path / "run.jsonl")


async def test_budget_spent_is_shown_and_enforced(tmp_path: Path) -> None:
    console, _ = scripted_console(["ask What is a? | What is b?", "wait", "ask What is c?", "show", "answer done"])
    path = tmp_path / "run.jsonl"
    assert await run(hch_tree(HumanOverseer(console), CountingLeaf(), 1), path, budget=3) == "done"
    inputs = human_inputs(path)
    assert "budget: 2 call(s) left" in inputs[0].shown
    assert "budget spent" in inputs[3].shown and "answer now" in inputs[3].shown
    assert "budget spent: you can only answer now" in inputs[4].shown


async def test_too_many_subquestions_get_a_hint(tmp_path: Path) -> None:
    console, _ = scripted_console(["ask a | b | c", "answer none"])
    path = tmp_path / "run.jsonl"
    result = await run_question(
        hch_tree(HumanOverseer(console), CountingLeaf(), 1), "q", transcript=path, max_subquestions=2
    )
    assert result.answer == "none"
    assert "this node can ask only 2 more (at most 2 per node)" in human_inputs(path)[1].shown


async def test_human_nodes_queue_for_the_terminal_one_at_a_time(tmp_path: Path) -> None:
    """Humans at depths 0 and 1: the root asks two, waits; each child is presented in turn."""
    console, _, _ = timed_console(
        [
            (0.0, "ask Left? | Right?"),
            (0.2, "wait"),  # lets the queued children have the terminal
            (0.0, "answer left"),  # node 0.0
            (0.0, "ask Right part?"),  # node 0.1 asks its own subquestion (a counting leaf answers it)
            (0.0, "answer right"),  # node 0.1
            (0.0, "answer both"),  # back at the root
        ]
    )
    human = HumanOverseer(console)
    leaf = CountingLeaf()
    path = tmp_path / "run.jsonl"
    assert await run(hch_tree(human, leaf, 2), path) == "both"
    order = [(i.node_id, i.typed) for i in human_inputs(path)]
    assert order == [
        ("0", "ask Left? | Right?"),
        ("0", "wait"),
        ("0.0", "answer left"),
        ("0.1", "ask Right part?"),
        ("0.1", "answer right"),
        ("0", "answer both"),
    ]
    inputs = human_inputs(path)
    assert "node 0.1 is waiting for the terminal (2 human node(s) waiting)" in inputs[1].shown
    # Each child is presented with its own context when it gets the terminal.
    assert "node 0.0" in inputs[2].shown and "question  Left?" in inputs[2].shown
    assert "node 0.1" in inputs[3].shown and "asked under: root question" in inputs[3].shown
    assert "Left? → left" in inputs[5].shown and "Right? → right" in inputs[5].shown
    assert leaf.calls == {"Right part?": 1}


async def test_a_fully_human_tree(tmp_path: Path) -> None:
    console, _ = scripted_console(["ask Part?", "answer root done", "answer the part"])
    model = hch_tree(HumanOverseer(console), HumanBaseModel(console), 1)
    path = tmp_path / "run.jsonl"
    assert await run(model, path) == "root done"
    workers = {e.node_id: e.worker for e in read_transcript(path).events if e.kind == "node_start"}
    assert workers == {"0": "human", "0.0": "human"}
    leaf_input = next(i for i in human_inputs(path) if i.node_id == "0.0")
    assert "you answer it directly" in leaf_input.shown and "depth left: 0" in leaf_input.shown


async def test_llm_branches_keep_running_while_the_prompt_is_open(tmp_path: Path) -> None:
    console, lines, _ = timed_console([(0.0, "ask A? | B? | C?"), (0.6, "answer x")])
    path = tmp_path / "run.jsonl"
    await run(hch_tree(HumanOverseer(console), CountingLeaf(delay=0.1), 1), path)
    opened, closed = lines.prompts_open[1]
    landed = [e for e in read_transcript(path).events if isinstance(e, NodeAnswer) and e.node_id != "0"]
    assert len(landed) == 3
    assert all(opened < e.time < closed for e in landed), (opened, closed, [e.time for e in landed])


class ScriptedDrafter:
    """Drafts from a list; records what it was told."""

    name = "fake-llm"

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = list(steps)
        self.told: list[list[tuple[Step, str]]] = []

    async def propose(self, ws: Workspace, rejected: Sequence[tuple[Step, str]]) -> Step:
        self.told.append(list(rejected))
        return self.steps.pop(0)


async def test_augmented_mode_accept_edit_replace(tmp_path: Path) -> None:
    drafter = ScriptedDrafter([Step(subquestions=("What is a?", "What is bb?")), Step(answer="drafted answer")])
    console, _ = scripted_console(["", "ok", "answer my own answer"])
    path = tmp_path / "run.jsonl"
    model = hch_tree(HumanOverseer(console, mode="augmented", drafter=drafter), CountingLeaf(), 1)
    assert await run(model, path) == "my own answer"
    inputs = human_inputs(path)
    assert "LLM draft: ask What is a? | What is bb?" in inputs[0].shown
    assert "ok takes the draft" in inputs[1].shown
    assert "LLM draft: answer drafted answer" in inputs[2].shown
    assert "What is bb? → 11" in inputs[2].shown
    assert read_transcript(path).events[0].worker == "human+fake-llm (augmented)"  # type: ignore[union-attr]


async def test_review_mode_rejection_makes_the_llm_retry_with_the_reason(tmp_path: Path) -> None:
    drafter = ScriptedDrafter([Step(answer="lazy"), Step(subquestions=("What is a?",)), Step(answer="from a")])
    console, _ = scripted_console(["n", "n too lazy, look it up", "y", "y"])
    path = tmp_path / "run.jsonl"
    model = hch_tree(HumanOverseer(console, mode="review", drafter=drafter), CountingLeaf(), 1)
    assert await run(model, path) == "from a"
    assert drafter.told[1] == [(Step(answer="lazy"), "too lazy, look it up")]
    assert drafter.told[2] == []  # a new step starts with no rejections
    inputs = human_inputs(path)
    assert "say why" in inputs[1].shown
    assert [i.prompt for i in inputs] == ["approve"] * 4


async def test_resume_does_not_ask_again_what_was_answered(tmp_path: Path) -> None:
    from hch.app.replay import resume_run

    console, _ = scripted_console(["ask What is a? | What is bb?", "note half way"])  # then input ends
    path = tmp_path / "run.jsonl"
    with pytest.raises(HumanStopped):
        await run(hch_tree(HumanOverseer(console), CountingLeaf(delay=0.01), 1), path)
    again, screen = scripted_console(["answer resumed"])
    leaf = CountingLeaf()
    result = await resume_run(
        read_transcript(path), hch_tree(HumanOverseer(again), leaf, 1), transcript=tmp_path / "resumed.jsonl"
    )
    assert result.result.answer == "resumed"
    assert again.inputs == 1  # only the answer was typed; the rest came from the transcript
    assert [i.typed for i in human_inputs(tmp_path / "resumed.jsonl")] == [
        "ask What is a? | What is bb?",
        "note half way",
        "answer resumed",
    ]
    # The person sees where they were: the sub-answers and notes of the first session.
    assert "half way" in screen.getvalue() and "What is bb? →" in screen.getvalue()


async def test_editor_escape_and_a_missing_editor(tmp_path: Path) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text('#!/bin/sh\nprintf "from the editor\\n" >> "$1"\n')
    editor.chmod(0o755)
    console, _ = scripted_console(["note first", "edit notes", "show", "answer ok"], editor=[str(editor)])
    path = tmp_path / "run.jsonl"
    assert await run(hch_tree(HumanOverseer(console), CountingLeaf(), 1), path) == "ok"
    inputs = human_inputs(path)
    assert (inputs[1].prompt, inputs[1].typed) == ("command", "edit notes")
    assert (inputs[2].prompt, inputs[2].typed) == ("edit-notes", "first\nfrom the editor")
    assert "notes: 2 line(s)" in inputs[3].shown

    broken, _ = scripted_console(["edit answer", "answer fine"], editor=[str(tmp_path / "no-such-editor")])
    path = tmp_path / "broken.jsonl"
    assert await run(hch_tree(HumanOverseer(broken), CountingLeaf(), 1), path) == "fine"
    inputs = human_inputs(path)
    assert [i.prompt for i in inputs] == ["command", "edit-answer", "command"]
    assert "cannot start the editor" in inputs[1].shown and "empty answer" in inputs[2].shown


async def test_asking_the_parents_question_with_extra_spaces_is_refused_as_the_engine_refuses_it(
    tmp_path: Path,
) -> None:
    """The engine compares questions stripped; a person is held to the same rule, in its words."""
    console, _ = scripted_console(["ask Half of it?", "answer 4", "ask What is 2+2?", "answer 2"])
    path = tmp_path / "run.jsonl"
    # The root's question ends in spaces; the child (a person too) asks it without them.
    model = hch_tree(HumanOverseer(console), CountingLeaf(), 2)
    assert await run(model, path, question="What is 2+2?   ") == "4"
    child = [i for i in human_inputs(path) if i.node_id == "0.0"]
    assert [i.typed for i in child] == ["ask What is 2+2?", "answer 2"]
    reason = "refused: identical to an ancestor's question; asking it again would recurse forever"
    assert f"'What is 2+2?': {reason}" in child[1].shown
    assert [e.node_id for e in read_transcript(path).events if isinstance(e, Ask)] == ["0"]  # nothing else asked

    # An overseer that is not a person, asking the same, gets the same reason from the engine.
    class Asker:
        name = "asker"

        async def __call__(self, ws: Workspace) -> str:
            return (await ws.ask("Half of it?" if ws.node.depth == 0 else "What is 2+2?"))[0]

    engine = tmp_path / "engine.jsonl"
    await run(hch_tree(Asker(), CountingLeaf(), 2), engine, question="What is 2+2?   ")
    assert [e.reason for e in read_transcript(engine).events if isinstance(e, Refusal)] == [reason]
