"""What a person types at a human node's prompt, parsed.

Parsing is pure (no terminal, no engine): a line becomes a :class:`Command`,
or a :class:`Hint` saying briefly what was wrong and what to type instead. The
prompt loop (:mod:`hch.human.session`) shows the hint and asks again.

The commands are few, and ``?`` lists them::

    ask Q                 ask one subquestion (a fresh copy of M answers it)
    ask Q1 | Q2 | Q3      ask several at once; they are answered concurrently
    ask                   several long ones: one per line, end with a line "."
    answer TEXT           answer this node (waits for pending subquestions first)
    answer                a multi-line answer: end with a line holding only "."
    note TEXT             add a line to the scratchpad
    edit [notes|answer|draft]   write it in $EDITOR
    wait                  let the pending subquestions finish (other people's nodes meanwhile)
    show                  show the question, bounds, sub-answers and notes again
    ?                     this help

In augmented mode (the LLM drafts, the person decides) ``ok`` accepts the
draft and ``edit`` edits it; any other command replaces it. In review mode
(the LLM works the node) ``y`` approves the proposed step and ``n REASON``
rejects it, and the LLM tries again with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hch.human.modes import Mode
from hch.step import Step

END_OF_BLOCK = "."
"""A line holding only this ends a multi-line entry."""

QUESTION_SEPARATOR = "|"


@dataclass(frozen=True)
class Ask:
    """Ask these subquestions as one concurrent batch (empty: read them one per line)."""

    questions: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """Answer the node with ``text`` (None: read a multi-line answer)."""

    text: str | None


@dataclass(frozen=True)
class Note:
    """Add ``text`` to the scratchpad (None: read several lines)."""

    text: str | None


@dataclass(frozen=True)
class Edit:
    """Write the scratchpad, the answer or the draft in ``$EDITOR``."""

    target: Literal["notes", "answer", "draft"]


@dataclass(frozen=True)
class Wait:
    """Wait for the pending subquestions."""


@dataclass(frozen=True)
class Show:
    """Show the node's context again."""


@dataclass(frozen=True)
class Help:
    """List the commands."""


@dataclass(frozen=True)
class Accept:
    """Take the LLM's draft (augmented mode) or approve its step (review mode)."""


@dataclass(frozen=True)
class Reject:
    """Reject the LLM's proposed step, saying why (review mode)."""

    reason: str


@dataclass(frozen=True)
class Hint:
    """Not a command: what was wrong with the input, and what to type instead."""

    message: str


Command = Ask | Answer | Note | Edit | Wait | Show | Help | Accept | Reject | Hint

_ALIASES = {
    "ask": "ask",
    "q": "ask",
    "answer": "answer",
    "a": "answer",
    "note": "note",
    "edit": "edit",
    "e": "edit",
    "wait": "wait",
    "w": "wait",
    "show": "show",
    "s": "show",
    "?": "help",
    "help": "help",
    "h": "help",
    "ok": "accept",
    "accept": "accept",
    "y": "accept",
    "yes": "accept",
    "approve": "accept",
    "n": "reject",
    "no": "reject",
    "reject": "reject",
}


def split_questions(text: str) -> tuple[tuple[str, ...], str | None]:
    """Subquestions separated by ``|``, and a hint if any of them is empty."""
    parts = [p.strip() for p in text.split(QUESTION_SEPARATOR)]
    if any(not p for p in parts):
        return (), 'a subquestion is empty: separate subquestions with " | ", e.g. ask What is 2+2? | What is 3+3?'
    return tuple(parts), None


def as_command(step: Step) -> str:
    """A step as the person would type it (how a draft is shown and edited)."""
    if step.answer is not None:
        return f"answer {step.answer}"
    return "ask " + f" {QUESTION_SEPARATOR} ".join(step.subquestions)


def parse_command(line: str, *, mode: Mode = "direct", leaf: bool = False, has_draft: bool = False) -> Command:
    """Parse one line typed at a node's prompt.

    ``leaf``: the node is answered by the person without help (it cannot ask);
    ``has_draft``: an LLM draft or proposal is on screen (``ok``/``y``/``n``
    refer to it).
    """
    text = line.strip()
    if not text:
        if mode == "review":
            return Hint("nothing typed: y approves the step, n REASON rejects it (? for help)")
        if mode == "augmented" and has_draft:
            return Hint("nothing typed: ok takes the draft, edit changes it, or type your own command (? for help)")
        return Hint("nothing typed: type a command, or ? for help")
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    name = _ALIASES.get(word.lower())
    if name is None:
        return Hint(_unknown(word, mode, leaf))
    if mode == "review":
        return _parse_review(name, rest)
    if name == "help":
        return Help()
    if name == "show":
        return Show()
    if name in ("accept", "reject"):
        if mode == "augmented" and has_draft and name == "accept":
            return Accept()
        if mode == "augmented" and has_draft:
            return Hint("to turn the draft down, type your own command instead (ask ..., answer ...)")
        return Hint(_unknown(word, mode, leaf))
    if name == "ask":
        if leaf:
            return Hint("this node has no depth left below it: it cannot ask subquestions; answer it (answer TEXT)")
        if not rest:
            return Ask(())
        questions, problem = split_questions(rest)
        if problem is not None:
            return Hint(problem)
        return Ask(questions)
    if name == "answer":
        return Answer(rest or None)
    if name == "note":
        return Note(rest or None)
    if name == "wait":
        if leaf:
            return Hint("this node asks nothing, so there is nothing to wait for; answer it (answer TEXT)")
        return Wait()
    if name == "edit":
        return _parse_edit(rest, mode, has_draft)
    raise AssertionError(f"unhandled command {name}")  # pragma: no cover


def _parse_edit(rest: str, mode: Mode, has_draft: bool) -> Command:
    target = rest.lower()
    if not target:
        return Edit("draft" if mode == "augmented" and has_draft else "notes")
    if target in ("notes", "note", "scratchpad"):
        return Edit("notes")
    if target == "answer":
        return Edit("answer")
    if target == "draft":
        if mode == "augmented" and has_draft:
            return Edit("draft")
        return Hint("there is no draft to edit here: edit notes, or edit answer")
    return Hint(f"edit what? edit notes, or edit answer (not {rest!r})")


def _parse_review(name: str, rest: str) -> Command:
    if name == "accept":
        return Accept()
    if name == "reject":
        if not rest:
            return Hint("say why, so the LLM can do better: n REASON (e.g. n the second subquestion is vague)")
        return Reject(rest)
    if name == "help":
        return Help()
    if name == "show":
        return Show()
    if name == "note":
        return Note(rest or None)
    if name == "edit" and rest.lower() in ("", "notes", "note", "scratchpad"):
        return Edit("notes")
    return Hint("in review mode the LLM works the node: y approves its step, n REASON rejects it (? for help)")


def _unknown(word: str, mode: Mode, leaf: bool) -> str:
    shown = word if len(word) <= 20 else word[:17] + "..."
    if mode == "review":
        return f"unknown command {shown!r}: y approves the step, n REASON rejects it (? for help)"
    if leaf:
        return f"unknown command {shown!r}: answer TEXT answers this question (? for help)"
    return f"unknown command {shown!r}: try ask QUESTION or answer TEXT (? for help)"


def help_text(*, mode: Mode = "direct", leaf: bool = False) -> str:
    """The command list for a node's prompt (what ``?`` shows)."""
    if mode == "review":
        lines = [
            ("y", "approve the LLM's step (it is carried out)"),
            ("n REASON", "reject it: the LLM tries again and is shown REASON"),
            ("note TEXT", "add a line to your scratchpad (edit: in $EDITOR)"),
            ("show", "show the question, bounds, sub-answers and notes again"),
            ("?", "this help · Ctrl-C stops the run (it can be resumed) · Ctrl-D ends input"),
        ]
    else:
        lines = []
        if mode == "augmented":
            lines += [
                ("ok", "take the LLM's draft as it is"),
                ("edit", "edit the draft in $EDITOR, then it is carried out"),
                ("(any command)", "replaces the draft"),
            ]
        if not leaf:
            lines += [
                ("ask Q", "ask a subquestion: a fresh copy of the model answers it"),
                ("ask Q1 | Q2", "ask several at once; they are answered concurrently"),
                ("ask", "several long ones: one per line, end with a line holding only ."),
            ]
        lines += [
            ("answer TEXT", "answer this node" + ("" if leaf else " (waits for pending subquestions)")),
            ("answer", "a multi-line answer: end with a line holding only ."),
            ("note TEXT", "add a line to your scratchpad"),
            ("edit notes|answer", "write the scratchpad or the answer in $EDITOR"),
        ]
        if not leaf:
            lines.append(("wait", "wait for the pending answers (other people's nodes get the terminal meanwhile)"))
        lines += [
            ("show", "show the question, bounds, sub-answers and notes again"),
            ("?", "this help · Ctrl-C stops the run (it can be resumed) · Ctrl-D ends input"),
        ]
    width = max(len(c) for c, _ in lines)
    return "\n".join(f"  {c.ljust(width)}  {d}" for c, d in lines)
