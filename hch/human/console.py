"""The one terminal of a run, shared by every node a person works.

A :class:`HumanConsole` owns the keyboard and the screen. Human nodes queue
for it and are presented one at a time (each with its context when it gets
the terminal), while the rest of the tree keeps running: reading the keyboard
never blocks the event loop (see :mod:`hch.human.terminal`).

Every input a person gives goes through :meth:`HumanConsole.input`, which

1. builds the request (the node, the kind of prompt, and what the prompt is
   about: its question, a draft on screen, the step number) and hashes it;
2. asks the run's playback for a recorded answer first: replay and resume feed
   recorded input back and never touch the terminal (a strict replay raises
   :class:`~hch.playback.Divergence` on a miss);
3. otherwise takes the terminal, prompts, times the answer and records a
   :class:`~transcripts.events.HumanInput` event with what was on screen
   (``shown``), what was typed and how long it took.

Only deterministic things are hashed: what was on screen (answers arriving in
some order, hints, timings) is recorded in ``shown`` but not hashed, so a
replay, where answers arrive at other moments, asks the same requests.

Ctrl-C at a prompt asks whether to stop; stopping cancels the run the way an
ordinary Ctrl-C does (the transcript keeps what is done, and the run can be
resumed). End of input (Ctrl-D, stdin closed) stops the run with
:class:`HumanStopped`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

from rich.console import Console, RenderableType
from rich.markup import escape

from hch.errors import HCHError, UsageError
from hch.human.commands import END_OF_BLOCK
from hch.human.terminal import EditorFailed, FdLines, LineSource, editor_command, run_editor
from hch.node import Node
from hch.recording import record_or_replay
from hch.text import TextConsole
from transcripts.chain import request_hash
from transcripts.events import HumanInput

Via = Literal["line", "block", "editor"]
PromptText = str | Callable[[], str]
"""A prompt, or a function giving it (re-evaluated when the prompt is shown again)."""
"""How an input is typed: one line, several lines ended by ".", or in ``$EDITOR``."""

NO_TTY = (
    "a person works nodes of this tree (the overseer human, human_depths, or a mode other than direct), "
    "but standard input is not a terminal: run it in a terminal, or replay its transcript with hch replay"
)


class HumanStopped(HCHError):
    """The person's input ended (Ctrl-D or stdin closed): the run stops, keeping what is done."""


class Owner(Protocol):
    """Whoever holds the terminal: a human node's session."""

    @property
    def node(self) -> Node: ...

    def present(self) -> None:
        """Show the node's context (called when it gets the terminal)."""
        ...


@dataclass
class _Waiter:
    owner: object
    granted: asyncio.Future[None]


_STOPPER = object()
"""Holds the terminal while the stop question is asked with no node at a prompt."""


class _Interrupted(Exception):
    """Ctrl-C while a line was being read."""


class HumanConsole:
    """The terminal of one run: a queue of human nodes, one line reader, one screen.

    ``out`` must be a recording console (``record=True``): what it printed
    since the previous input is what the person was shown. ``lines`` replaces
    the keyboard (tests); ``editor`` the ``$EDITOR`` command; ``clock`` the
    timer of how long an input took.
    """

    def __init__(
        self,
        *,
        out: Console | None = None,
        lines: LineSource | None = None,
        editor: list[str] | None = None,
        handle_sigint: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out or TextConsole(record=True, soft_wrap=True)
        if not self.out.record:
            raise ValueError("the human console needs a recording rich Console (record=True)")
        self._lines = lines
        self._editor = editor
        self._handle_sigint = handle_sigint
        self._clock = clock
        self._owner: object | None = None
        self._queue: deque[_Waiter] = deque()
        self._reading: PromptText | None = None
        """The prompt of the line being read, if one is."""
        self._interrupt: asyncio.Event | None = None
        self._stop_requested = False
        self._in_editor = False
        self._installed: asyncio.AbstractEventLoop | None = None
        self._previous_sigint: Any = None
        self._presented: weakref.WeakSet[Any] = weakref.WeakSet()
        """Owners that have had the terminal."""
        self.transcript_hint: str | None = None
        self.inputs = 0
        """Inputs read from the keyboard (not played back) in this run."""

    # -- terminal ownership --------------------------------------------------

    @property
    def owner(self) -> object | None:
        return self._owner

    @property
    def waiting(self) -> int:
        """Human nodes queued for the terminal."""
        return sum(1 for w in self._queue if w.owner is not _STOPPER and not w.granted.done())

    async def acquire(self, owner: Owner) -> None:
        """Wait for the terminal (first come, first served) and present ``owner``'s context."""
        if self._owner is owner:
            return
        if self._owner is None and not self._queue:
            self._owner = owner
        else:
            waiter = _Waiter(owner, asyncio.get_running_loop().create_future())
            self._queue.append(waiter)
            if self._owner is not None and self._owner is not _STOPPER:
                self.show(
                    None,
                    f"[cyan]node {escape(owner.node.node_id)} is waiting for the terminal ({self.waiting} "
                    "human node(s) waiting): wait lets them in while your answers come[/]",
                )
            try:
                await waiter.granted
            except asyncio.CancelledError:
                if waiter.granted.done() and not waiter.granted.cancelled():
                    self.release(owner)
                else:
                    waiter.granted.cancel()
                raise
        self._presented.add(owner)
        owner.present()

    def release(self, owner: object) -> None:
        """Give the terminal to the next queued node, if ``owner`` holds it."""
        if self._owner is not owner:
            return
        self._owner = None
        while self._queue:
            waiter = self._queue.popleft()
            if waiter.granted.done():
                continue
            self._owner = waiter.owner
            waiter.granted.set_result(None)
            return

    async def _acquire_front(self) -> None:
        """Take the terminal for a run-wide question (Ctrl-C), ahead of queued nodes."""
        if self._owner is None and not self._queue:
            self._owner = _STOPPER
            return
        waiter = _Waiter(_STOPPER, asyncio.get_running_loop().create_future())
        self._queue.appendleft(waiter)
        await waiter.granted

    # -- output --------------------------------------------------------------

    def show(self, owner: Owner | None, text: RenderableType, *, markup: bool = True) -> None:
        """Print ``text`` if ``owner`` holds the terminal (others see their state when they get it)."""
        # Another node has the terminal, or this one has not been at it (it is
        # being played back): it shows its state when it gets the terminal.
        if owner is not None and owner is not self._owner and (self._owner is not None or owner not in self._presented):
            return
        if self._in_editor:
            return
        if self._reading is not None:
            # A line is being typed: print above it, then the prompt again.
            self.out.print()
            self.out.print(text, markup=markup)
            self.out.print(_text(self._reading), end="", markup=False, style="bold")
        else:
            self.out.print(text, markup=markup)

    # -- input ---------------------------------------------------------------

    async def input(
        self,
        owner: Owner,
        *,
        kind: str,
        request: dict[str, Any],
        prompt: PromptText,
        via: Via = "line",
        initial: str = "",
    ) -> str:
        """One input of ``owner``'s node: played back if recorded, else typed and recorded.

        ``kind`` names the prompt (``command``, ``answer-text``, ``editor``...);
        ``request`` is what the prompt is about and must be deterministic.
        """
        node = owner.node
        full = {"kind": kind, "node": node.node_id, "question": node.question, **request}
        key = request_hash(full)

        async def live() -> HumanInput:
            self._ensure_started(node)
            await self.acquire(owner)
            start = self._clock()
            if via == "editor":
                typed = await self._edit(initial)
            elif via == "block":
                typed = await self._read_block(owner, _text(prompt))
            else:
                typed = await self._read_line(owner, prompt)
            seconds = round(self._clock() - start, 3)
            shown = self.out.export_text(clear=True)
            self.inputs += 1
            return HumanInput(
                node_id=node.node_id, request_hash=key, prompt=kind, shown=shown, typed=typed, seconds=seconds
            )

        def replayed(record: HumanInput) -> HumanInput:
            return HumanInput(
                node_id=node.node_id,
                request_hash=key,
                prompt=kind,
                shown=record.shown,
                typed=record.typed,
                seconds=record.seconds,
            )

        return (await record_or_replay(node, HumanInput, key, live, replayed)).typed

    def _ensure_started(self, node: Node) -> None:
        if self.transcript_hint is None and node.run.writer.path is not None:
            self.transcript_hint = str(node.run.writer.path)
        if self._lines is None:
            if not stdin_is_tty():
                raise UsageError(NO_TTY)
            self._lines = FdLines(sys.stdin.fileno())
        loop = asyncio.get_running_loop()
        if self._interrupt is None:
            self._interrupt = asyncio.Event()
        if self._handle_sigint and self._installed is not loop:
            try:
                previous = signal.getsignal(signal.SIGINT)
                loop.add_signal_handler(signal.SIGINT, self._on_sigint)
            except (ValueError, RuntimeError, NotImplementedError):
                return  # not the main thread, or no signals here: Ctrl-C keeps its usual meaning
            self._previous_sigint = previous
            self._installed = loop

    async def aclose(self) -> None:
        """Give Ctrl-C back its previous meaning and stop reading the keyboard."""
        self.close()

    def close(self) -> None:
        loop, self._installed = self._installed, None
        if loop is not None and not loop.is_closed():
            loop.remove_signal_handler(signal.SIGINT)
            if self._previous_sigint is not None:
                signal.signal(signal.SIGINT, self._previous_sigint)
        if self._lines is not None:
            self._lines.close()

    async def _read_line(self, owner: Owner, prompt: PromptText) -> str:
        while True:
            if self._stop_requested:
                self._stop_requested = False
                await self._confirm_stop(owner)
            try:
                line = await self._readline(prompt)
            except _Interrupted:
                await self._confirm_stop(owner)
                continue
            if line is None:
                self._eof(owner)
            return line

    async def _read_block(self, owner: Owner, prompt: str) -> str:
        self.out.print(f"[dim]{escape(prompt)}: several lines; end with a line holding only {END_OF_BLOCK}[/]")
        lines: list[str] = []
        while True:
            line = await self._read_line(owner, "  … " if lines else "  > ")
            if line.strip() == END_OF_BLOCK:
                return "\n".join(lines)
            lines.append(line)

    async def _readline(self, prompt: PromptText) -> str | None:
        assert self._lines is not None and self._interrupt is not None
        self._interrupt.clear()
        self.out.print(_text(prompt), end="", markup=False, style="bold")
        self._reading = prompt
        read = asyncio.ensure_future(self._lines.readline())
        interrupted = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait({read, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._reading = None
            interrupted.cancel()
            if not read.done():
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)
        if read.done() and not read.cancelled():
            line: str | None = read.result()
            return line
        raise _Interrupted

    async def _edit(self, initial: str) -> str:
        """The text after the person edited ``initial`` in ``$EDITOR`` (unchanged if that failed)."""
        self._in_editor = True
        try:
            return await run_editor(initial, command=self._editor or editor_command())
        except (EditorFailed, UsageError) as exc:
            self.out.print(f"[yellow]{escape(str(exc))}[/]")
            return initial
        finally:
            self._in_editor = False

    # -- stopping ------------------------------------------------------------

    def _on_sigint(self) -> None:
        if self._in_editor:
            return  # the editor has the keyboard; Ctrl-C is its business
        assert self._interrupt is not None
        if self._reading is not None:
            self._interrupt.set()
        elif self._owner is not None:
            self._stop_requested = True
            self.out.print("\n[yellow]Ctrl-C: you will be asked whether to stop at the next prompt[/]")
        elif not self._stop_requested:
            self._stop_requested = True
            asyncio.get_running_loop().create_task(self._confirm_stop_idle())

    async def _confirm_stop_idle(self) -> None:
        await self._acquire_front()
        try:
            await self._confirm_stop(None)
        finally:
            self._stop_requested = False
            self.release(_STOPPER)

    async def _confirm_stop(self, owner: Owner | None) -> None:
        where = f" ({self.transcript_hint})" if self.transcript_hint else ""
        self.out.print(
            f"\n[bold yellow]Stop the run?[/] What is answered so far stays in the transcript{escape(where)}, "
            "and [bold]hch run --resume[/] continues it without asking you again."
        )
        start = self._clock()
        try:
            typed = await self._readline("stop? [y/N] ")
        except _Interrupted:
            typed = "y"  # a second Ctrl-C means yes
        answer = "" if typed is None else typed.strip().lower()
        if owner is not None:
            node = owner.node
            node.emit(
                HumanInput(
                    node_id=node.node_id,
                    request_hash=request_hash({"kind": "stop"}),
                    prompt="stop",
                    shown=self.out.export_text(clear=True),
                    typed="y" if typed is None else typed,
                    seconds=round(self._clock() - start, 3),
                )
            )
        if typed is not None and answer not in ("y", "yes"):
            self.out.print("[green]continuing[/]")
            return
        self.out.print("[bold]stopping[/]: the run ends here; resume it with hch run --resume")
        self._deliver_stop()
        # The run is being cancelled: wait here until the cancellation arrives.
        await asyncio.get_running_loop().create_future()

    def _deliver_stop(self) -> None:
        previous = self._previous_sigint
        self.close()
        if callable(previous) and previous is not signal.default_int_handler:
            # asyncio.run's own handler: it cancels the main task, and asyncio.run
            # then raises KeyboardInterrupt (the CLI reports it and exits 130).
            previous(signal.SIGINT, None)
            return
        raise HumanStopped("stopped at the keyboard (Ctrl-C); the transcript keeps what is done")

    def _eof(self, owner: Owner) -> NoReturn:
        self.out.print()
        where = f"; the transcript keeps what is done: {self.transcript_hint}" if self.transcript_hint else ""
        raise HumanStopped(
            f"input ended (Ctrl-D or stdin closed) at the prompt of node {owner.node.node_id}: "
            f"the run stops{where} (continue it with hch run --resume)"
        )


def _text(prompt: PromptText) -> str:
    return prompt if isinstance(prompt, str) else prompt()


def stdin_is_tty() -> bool:
    """Whether standard input is a terminal a person can type at."""
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, ValueError, OSError):
        return False
