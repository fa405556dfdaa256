"""What a person can type at a human node's prompt: parsing, hints, help."""

from __future__ import annotations

import pytest

from hch.human.commands import (
    Accept,
    Answer,
    Ask,
    Edit,
    Help,
    Hint,
    Note,
    Reject,
    Show,
    Wait,
    as_command,
    help_text,
    parse_command,
)
from hch.step import Step


def test_ask_one_and_several() -> None:
    assert parse_command("ask What is 2+2?") == Ask(("What is 2+2?",))
    assert parse_command("  ask  What is 2+2? |  What is 3+3?  ") == Ask(("What is 2+2?", "What is 3+3?"))
    assert parse_command("q a | b | c") == Ask(("a", "b", "c"))
    assert parse_command("ASK x") == Ask(("x",))


def test_ask_alone_reads_several_lines() -> None:
    assert parse_command("ask") == Ask(())


@pytest.mark.parametrize("line", ["ask a ||b", "ask | b", "ask a |", "ask |", "ask a | | b"])
def test_malformed_subquestions_get_a_hint(line: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Hint)
    assert "subquestion is empty" in command.message
    assert "ask What is 2+2? | What is 3+3?" in command.message


@pytest.mark.parametrize("line", ["", "   ", "\t"])
def test_empty_input_gets_a_hint(line: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Hint)
    assert "nothing typed" in command.message and "?" in command.message


def test_unknown_command_gets_a_hint_naming_it() -> None:
    command = parse_command("frobnicate the thing")
    assert isinstance(command, Hint)
    assert "unknown command 'frobnicate'" in command.message
    assert "ask QUESTION" in command.message and "answer TEXT" in command.message
    long = parse_command("x" * 50)
    assert isinstance(long, Hint) and "..." in long.message and len(long.message) < 120


def test_help_show_wait_note_answer() -> None:
    assert parse_command("?") == Help()
    assert parse_command("help") == Help()
    assert parse_command("show") == Show()
    assert parse_command("wait") == Wait()
    assert parse_command("note remember x") == Note("remember x")
    assert parse_command("note") == Note(None)
    assert parse_command("answer 42") == Answer("42")
    assert parse_command("a 42") == Answer("42")
    assert parse_command("answer") == Answer(None)


def test_edit_targets() -> None:
    assert parse_command("edit") == Edit("notes")
    assert parse_command("edit notes") == Edit("notes")
    assert parse_command("edit answer") == Edit("answer")
    assert isinstance(parse_command("edit draft"), Hint)
    assert isinstance(parse_command("edit everything"), Hint)
    assert parse_command("edit", mode="augmented", has_draft=True) == Edit("draft")
    assert parse_command("edit draft", mode="augmented", has_draft=True) == Edit("draft")


def test_leaf_cannot_ask_or_wait() -> None:
    ask = parse_command("ask x", leaf=True)
    assert isinstance(ask, Hint) and "cannot ask" in ask.message
    assert isinstance(parse_command("wait", leaf=True), Hint)
    unknown = parse_command("hello", leaf=True)
    assert isinstance(unknown, Hint) and "answer TEXT" in unknown.message


def test_augmented_mode_accepts_a_draft() -> None:
    assert parse_command("ok", mode="augmented", has_draft=True) == Accept()
    assert parse_command("y", mode="augmented", has_draft=True) == Accept()
    # Any other command replaces the draft.
    assert parse_command("ask other", mode="augmented", has_draft=True) == Ask(("other",))
    empty = parse_command("", mode="augmented", has_draft=True)
    assert isinstance(empty, Hint) and "ok takes the draft" in empty.message
    assert isinstance(parse_command("ok"), Hint)  # no draft in direct mode


def test_review_mode() -> None:
    assert parse_command("y", mode="review") == Accept()
    assert parse_command("ok", mode="review") == Accept()
    assert parse_command("n too vague", mode="review") == Reject("too vague")
    assert parse_command("reject  too vague ", mode="review") == Reject("too vague")
    no_reason = parse_command("n", mode="review")
    assert isinstance(no_reason, Hint) and "say why" in no_reason.message
    assert isinstance(parse_command("ask x", mode="review"), Hint)
    assert isinstance(parse_command("", mode="review"), Hint)
    assert parse_command("?", mode="review") == Help()
    assert parse_command("note hmm", mode="review") == Note("hmm")


def test_review_mode_former_name_is_explained_and_still_read_from_transcripts() -> None:
    from hch.app.spec import RunSpec
    from hch.errors import UsageError
    from hch.human.build import check_mode
    from hch.human.modes import recorded_mode

    assert check_mode("review") == "review"
    former = r"mode 'approval' \(now called review\): choose one of direct, augmented, review"
    with pytest.raises(UsageError, match=former):
        check_mode("approval")
    # A header written before the rename still builds the same run ...
    assert RunSpec(question="q", depth=1, human_mode="approval").human_mode == "review"  # type: ignore[arg-type]
    # ... and a person's input request hashes the word it was recorded under, so its input is found.
    assert recorded_mode("review") == "approval"
    assert recorded_mode("augmented") == "augmented"


def test_help_lists_every_command() -> None:
    text = help_text()
    for command in ("ask Q", "ask Q1 | Q2", "answer TEXT", "note TEXT", "edit", "wait", "show", "?", "Ctrl-C"):
        assert command in text
    leaf = help_text(leaf=True)
    assert "ask Q" not in leaf and "answer TEXT" in leaf
    assert "ok" in help_text(mode="augmented")
    review = help_text(mode="review")
    assert "n REASON" in review and "y" in review


@pytest.mark.parametrize(
    "step",
    [Step(subquestions=("What is a?",)), Step(subquestions=("a", "b c")), Step(answer="42"), Step(answer="two\nlines")],
)
def test_a_step_shown_as_a_command_parses_back_to_itself(step: Step) -> None:
    command = parse_command(as_command(step))
    assert command == (Ask(step.subquestions) if step.asks else Answer(step.answer or ""))


def test_a_step_asks_or_answers_never_both_or_neither() -> None:
    with pytest.raises(ValueError, match="not both or neither"):
        Step(answer="x", subquestions=("y",))
    with pytest.raises(ValueError, match="not both or neither"):
        Step()
