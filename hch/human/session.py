"""A person working one node: the prompt loop, its screen, and its subquestions.

A :class:`NodeSession` is created for each node a person works. It shows the
node's context when the node gets the terminal, reads commands (through
:meth:`~hch.human.console.HumanConsole.input`, so every input is recorded and
can be played back), dispatches subquestions as concurrent batches whose
answers are shown as they arrive (:meth:`~hch.workspace.Workspace.ask_each`),
and returns the node's answer. What fits, and what the engine would refuse,
it learns from the workspace (:meth:`~hch.workspace.Workspace.room`,
:meth:`~hch.workspace.Workspace.check`), so a person is held to the same rules
as any overseer.

Three modes (see :mod:`hch.human.commands`):

- ``direct``: the person decomposes and answers;
- ``augmented``: a :class:`Drafter` (an LLM) drafts each step, the person
  takes it (``ok``), edits it, or types their own;
- ``review``: the drafter works the node and the person approves (``y``) or
  rejects (``n REASON``) each step; a rejected step is drafted again with the
  reasons shown to the drafter.

Replay determinism: a batch asked while another is pending, under a bounded
budget, is dispatched only when the pending ones are answered (the budget a
batch is given depends on what earlier batches spent), and ``answer`` waits
for every pending subquestion. So what a node computes depends only on what
was typed, never on when answers arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rich.markup import escape
from rich.rule import Rule

from hch.human.commands import (
    Accept,
    Answer,
    Ask,
    Command,
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
from hch.human.console import HumanConsole, Via
from hch.human.modes import Mode, recorded_mode
from hch.node import Node
from hch.step import Step
from hch.workspace import Arrivals, BatchCheck, Workspace


class Drafter(Protocol):
    """Drafts a node's next step (an LLM, in augmented and review modes)."""

    @property
    def name(self) -> str: ...

    async def propose(self, ws: Workspace, rejected: Sequence[tuple[Step, str]]) -> Step:
        """The next step for ``ws`` given what it has asked so far (``ws.history``);
        ``rejected`` lists earlier proposals of this step that the person
        rejected, each with the reason they gave (oldest first)."""
        ...


@dataclass
class _Sub:
    number: int
    question: str
    answer: str | None = None
    status: Literal["pending", "answered", "failed"] = "pending"


class NodeSession:
    """A person working ``node`` (an overseer node with ``ws``, or a leaf without)."""

    def __init__(
        self,
        console: HumanConsole,
        node: Node,
        ws: Workspace | None,
        *,
        mode: Mode = "direct",
        drafter: Drafter | None = None,
    ) -> None:
        if mode != "direct" and drafter is None:
            raise ValueError(f"{mode} mode needs a drafter (an LLM)")
        self.console = console
        self.node = node
        self.ws = ws
        self.mode: Mode = mode if ws is not None else "direct"
        self.drafter = drafter
        self.notes: list[str] = []
        self.subs: list[_Sub] = []
        self.draft: Step | None = None
        self.rejected: list[tuple[Step, str]] = []
        """Proposals of the current step the person rejected, with their reasons."""
        self._step = 0
        self._batches: set[asyncio.Task[None]] = set()
        self._failure: asyncio.Future[BaseException] | None = None

    # -- the screen ----------------------------------------------------------

    @property
    def leaf(self) -> bool:
        return self.ws is None

    def _role(self) -> str:
        if self.leaf:
            return "you answer it directly (the base model)"
        return {
            "direct": "you are the overseer",
            "augmented": "the LLM drafts, you decide",
            "review": "the LLM works it, you approve each step",
        }[self.mode]

    def bounds_line(self) -> str:
        """Remaining depth and budget, in words."""
        node = self.node
        if self.leaf:
            depth = "depth left: 0 (no subquestions)"
        else:
            below = node.level - 1
            depth = f"depth left: {node.level} (subquestions go to copies of the model with {below} below them)"
        left = node.budget.left
        if self.ws is None:
            budget = "" if left is None else f" · budget: {left} call(s) left"
        elif left is None:
            budget = f" · budget: unbounded · subquestions left: {self.ws.subquestions_left}"
        elif left < 1 and not self._pending():
            budget = " · [bold red]budget spent: you can only answer now[/]"
        else:
            budget = f" · budget: {left} call(s) left · subquestions left: {self.ws.subquestions_left}"
        return depth + budget

    def present(self) -> None:
        """Show the node's full context (when it gets the terminal, and on ``show``)."""
        node = self.node
        out = self.console
        out.show(None, Rule(f"node {node.node_id} · {self._role()}", align="left"))
        if node.ancestors:
            out.show(None, f"[dim]asked under: {escape(_short(node.ancestors[-1], 100))}[/]")
        out.show(None, f"[bold]question[/]  {escape(node.question)}")
        out.show(None, self.bounds_line())
        if self.subs:
            out.show(None, "[bold]sub-answers so far[/]")
            for sub in self.subs:
                out.show(None, self._sub_line(sub))
        if self.notes:
            out.show(None, "[bold]notes[/]")
            for line in self.notes:
                out.show(None, f"  {escape(line)}")
        if self.rejected and self.mode == "review":
            out.show(None, "[bold]rejected so far for this step[/]")
            for step, reason in self.rejected:
                out.show(None, f"  - {escape(_short(as_command(step), 60))}: {escape(reason)}")
        waiting = out.waiting
        if waiting:
            out.show(
                None,
                f"[cyan]{waiting} other human node(s) waiting for the terminal"
                + ("" if self.leaf else " (wait lets them in while your answers come)")
                + "[/]",
            )
        if self.draft is not None:
            self._show_draft()
        out.show(None, "[dim]? for the commands[/]")

    def _show_draft(self) -> None:
        assert self.draft is not None
        label = "LLM draft" if self.mode == "augmented" else "LLM step"
        verb = (
            "ok takes it, edit changes it, or type your own"
            if self.mode == "augmented"
            else "y approves, n REASON rejects"
        )
        self.console.show(None, f"[bold magenta]{label}:[/] {escape(as_command(self.draft))}")
        self.console.show(None, f"[dim]{verb}[/]")

    def _sub_line(self, sub: _Sub) -> str:
        head = f"  #{sub.number} {escape(_short(sub.question, 70))} →"
        if sub.status == "answered":
            return f"{head} [green]{escape(_short(sub.answer or '', 200))}[/]"
        if sub.status == "failed":
            return f"{head} [red]failed[/]"
        return f"{head} [dim]{sub.status}…[/]"

    def _prompt(self) -> str:
        tags = [self.node.node_id]
        pending = sum(1 for s in self.subs if s.status == "pending")
        if pending:
            tags.append(f"{pending} pending")
        if self.mode == "review":
            tags.append("approve?")
        elif self.draft is not None:
            tags.append("draft")
        return "[" + " · ".join(tags) + "]> "

    def hint(self, message: str) -> None:
        self.console.show(self, f"[yellow]{escape(message)}[/]")

    # -- input ---------------------------------------------------------------

    async def _input(
        self, kind: str, *, via: Via = "line", extra: dict[str, Any] | None = None, initial: str = ""
    ) -> str:
        mode = recorded_mode(self.mode)
        request: dict[str, Any] = {"level": self.node.level, "mode": mode, "step": self._step, **(extra or {})}
        self._step += 1
        prompt = self._prompt if via == "line" else kind
        return await self.console.input(self, kind=kind, request=request, prompt=prompt, via=via, initial=initial)

    # -- running -------------------------------------------------------------

    async def run(self) -> str:
        """Work the node until the person (or the approved LLM) answers it."""
        loop = asyncio.get_running_loop()
        self._failure = loop.create_future()
        work = asyncio.ensure_future(self._review_loop() if self.mode == "review" else self._loop())
        try:
            either: set[asyncio.Future[Any]] = {work, self._failure}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                raise self._failure.result()
            return work.result()
        finally:
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            self.console.release(self)
            for task in self._batches:
                task.cancel()
            if self._batches:
                await asyncio.gather(*self._batches, return_exceptions=True)
            if not self._failure.done():
                self._failure.cancel()

    async def _loop(self) -> str:
        while True:
            if self.mode == "augmented" and self.draft is None:
                self.draft = await self._propose()
                self._show_draft()
            extra = {"draft": as_command(self.draft)} if self.draft is not None else {}
            typed = await self._input("command", extra=extra)
            command = parse_command(typed, mode=self.mode, leaf=self.leaf, has_draft=self.draft is not None)
            if isinstance(command, Accept) and self.draft is not None:
                command = parse_command(as_command(self.draft), leaf=self.leaf)
            elif isinstance(command, Edit) and command.target == "draft" and self.draft is not None:
                edited = await self._input("edit-draft", via="editor", initial=as_command(self.draft))
                command = parse_command(edited, leaf=self.leaf)
                if isinstance(command, Hint):
                    self.hint(f"the edited draft is not a command ({command.message}); the draft is unchanged")
                    continue
            answer = await self._execute(command)
            if answer is not None:
                return answer

    async def _execute(self, command: Command) -> str | None:
        """Carry out ``command``; return the node's answer if it answers."""
        if isinstance(command, Hint):
            self.hint(command.message)
        elif isinstance(command, Help):
            self.console.show(self, help_text(mode=self.mode, leaf=self.leaf), markup=False)
        elif isinstance(command, Show):
            self.present()
        elif isinstance(command, Note):
            text = command.text
            if text is None:
                text = await self._input("note-text", via="block")
            if text.strip():
                self.notes.extend(text.splitlines())
                self.console.show(self, "[dim]noted[/]")
            else:
                self.hint("empty note: nothing added")
        elif isinstance(command, Edit):
            if command.target == "notes":
                text = await self._input("edit-notes", via="editor", initial="\n".join(self.notes))
                self.notes = [line for line in text.splitlines() if line.strip()]
                self.console.show(self, f"[dim]notes: {len(self.notes)} line(s)[/]")
            else:
                initial = self.draft.answer if self.draft is not None and self.draft.answer is not None else ""
                text = await self._input("edit-answer", via="editor", initial=initial or "")
                if not text.strip():
                    self.hint("empty answer: nothing was answered")
                else:
                    return await self._finish(text)
        elif isinstance(command, Ask):
            questions = command.questions
            if not questions:
                text = await self._input("subquestions", via="block")
                questions = tuple(q.strip() for q in text.splitlines() if q.strip())
                if not questions:
                    self.hint("no subquestions typed: nothing was asked")
                    return None
            problem = await self._ready_to_ask(questions)
            if problem is not None:
                self.hint(problem)
                return None
            await self._dispatch(questions)
            if self.mode == "augmented":
                self.draft = None
                await self._wait_pending()
        elif isinstance(command, Wait):
            if not self._pending():
                self.hint("nothing is pending: ask something, or answer")
            else:
                waiting = sum(1 for s in self.subs if s.status == "pending")
                self.console.show(self, f"[dim]waiting for {waiting} pending subquestion(s)… (Ctrl-C to stop)[/]")
                await self._wait_pending()
        elif isinstance(command, Answer):
            text = command.text
            if text is None:
                text = await self._input("answer-text", via="block")
            if not text.strip():
                self.hint("empty answer: nothing was answered (answer TEXT)")
                return None
            return await self._finish(text)
        elif isinstance(command, Accept | Reject):
            self.hint("there is nothing to approve here (? for help)")
        return None

    async def _finish(self, text: str) -> str:
        if self._pending():
            self.console.show(self, "[dim]waiting for the pending subquestions before answering…[/]")
            await self._wait_pending()
        self.console.show(self, f"[bold green]answered node {self.node.node_id}[/]")
        self.console.release(self)
        return text.strip()

    # -- review mode ---------------------------------------------------------

    async def _review_loop(self) -> str:
        while True:
            self.draft = await self._propose()
            self._show_draft()
            decided: bool | None = None
            while decided is None:
                typed = await self._input(
                    "approve", extra={"proposal": as_command(self.draft), "rejections": [r for _, r in self.rejected]}
                )
                command = parse_command(typed, mode="review")
                if isinstance(command, Accept):
                    decided = True
                elif isinstance(command, Reject):
                    self.rejected.append((self.draft, command.reason))
                    self.console.show(self, "[dim]rejected: the LLM tries again with your reason[/]")
                    decided = False
                else:
                    await self._execute(command)
            if not decided:
                continue
            step, self.draft = self.draft, None
            self.rejected = []
            if step.answer is not None:
                return await self._finish(step.answer)
            problem = await self._ready_to_ask(step.subquestions)
            if problem is not None:
                # Approved but impossible: the LLM is told why and drafts again.
                self.hint(f"the step cannot be carried out: {problem}")
                self.rejected.append((step, f"that step could not be carried out: {problem}"))
                continue
            await self._dispatch(step.subquestions)
            await self._wait_pending()

    async def _propose(self) -> Step:
        assert self.drafter is not None and self.ws is not None
        self.console.show(self, "[dim]the LLM is drafting…[/]")
        step = await self.drafter.propose(self.ws, list(self.rejected))
        if step.answer is None and self._problem(self.ws.check(*step.subquestions)) is not None:
            # The draft does not fit the bounds: keep what fits, or fall back to answering.
            room = self.ws.room()
            if room > 0:
                step = Step(subquestions=step.subquestions[:room])
            if room <= 0 or self._problem(self.ws.check(*step.subquestions)) is not None:
                step = Step(answer=self._fallback_answer())
        return step

    def _fallback_answer(self) -> str:
        answered = [s for s in self.subs if s.status == "answered" and s.answer]
        if answered:
            return "; ".join(s.answer or "" for s in answered)
        return "unknown"

    # -- subquestions --------------------------------------------------------

    def _pending(self) -> bool:
        return any(s.status == "pending" for s in self.subs)

    def _problem(self, check: BatchCheck) -> str | None:
        """Why a checked batch must not be asked now (None: it can), in the engine's words."""
        assert self.ws is not None
        for planned in check.refused:
            # The engine would ask the rest and answer this one with its refusal;
            # a person is told at once instead, and nothing is asked.
            return f"{_short(planned.question, 60)!r}: {planned.reason}"
        if check.bound == "budget" and self.ws.room() == 0:
            return "budget spent: no calls are left for subquestions; answer now (answer TEXT)"
        return check.problem

    async def _ready_to_ask(self, questions: Sequence[str]) -> str | None:
        """Check a batch; under a bounded budget, first let pending batches finish.

        What a batch is given depends on what earlier batches spent, so a
        batch is never split off while another is running: the outcome then
        depends only on what was typed, not on when answers arrived.
        """
        assert self.ws is not None
        check = self.ws.check(*questions)
        if check.refused or check.bound == "subquestions":
            return self._problem(check)
        if self.node.budget.allotted is not None and self._pending():
            self.console.show(
                self,
                "[dim]the budget is bounded: waiting for the pending subquestions first "
                "(the new ones get what those leave)…[/]",
            )
            await self._wait_pending()
            check = self.ws.check(*questions)
        return self._problem(check)

    async def _dispatch(self, questions: Sequence[str]) -> None:
        """Ask a batch (concurrently answered); return once it has been asked, not answered.

        The batch is asked (its ask event written) before the next input is
        read, so a replay, whose inputs come at once, records the same order.
        """
        ws = self.ws
        assert ws is not None
        arrivals = ws.ask_each(*questions)
        start = len(self.subs)
        subs = [_Sub(start + i, planned.question) for i, planned in enumerate(arrivals.plan)]
        self.subs.extend(subs)
        task = asyncio.ensure_future(self._receive(subs, arrivals))
        self._batches.add(task)
        self.console.show(self, f"[dim]asked {len(subs)} subquestion(s); answers appear as they arrive[/]")

    async def _receive(self, subs: list[_Sub], arrivals: Arrivals) -> None:
        """Show each answer of a batch as it arrives (at once if this node holds the terminal)."""
        assert self._failure is not None
        try:
            async for arrival in arrivals:
                sub = subs[arrival.index]
                sub.status, sub.answer = "answered", arrival.exchange.answer
                self.console.show(self, f"[green]↳ #{sub.number} answered:[/] {escape(_short(sub.answer, 200))}")
        except Exception as exc:
            for s in subs:
                if s.status == "pending":
                    s.status = "failed"
            self.console.show(self, f"[red]↳ subquestions failed:[/] {escape(str(exc))}")
            if not self._failure.done():
                self._failure.set_result(exc)
            return
        if not self._pending():
            self.console.show(self, "[green]all subquestions are answered[/]")

    async def _wait_pending(self) -> None:
        """Let the pending subquestions finish, giving the terminal to other nodes meanwhile."""
        if not self._batches:
            return
        self.console.release(self)
        pending = [t for t in self._batches if not t.done()]
        if pending:
            await asyncio.wait(pending)
        assert self._failure is not None
        if self._failure.done() and not self._failure.cancelled():
            raise self._failure.result()


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
