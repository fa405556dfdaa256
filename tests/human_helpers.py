"""Helpers for the human-in-the-loop tests: scripted keyboards, a real terminal (tmux), an LLM policy."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from hch.human.console import HumanConsole
from hch.human.terminal import ScriptedLines
from tests.tools import need

ROOT = Path(__file__).resolve().parents[1]


def scripted_console(
    lines: Iterable[str | None], *, width: int = 200, editor: list[str] | None = None
) -> tuple[HumanConsole, io.StringIO]:
    """A console typing ``lines`` (then end of input), printing to a string."""
    screen = io.StringIO()
    out = Console(file=screen, record=True, width=width, highlight=False, soft_wrap=True)
    return HumanConsole(out=out, lines=ScriptedLines(lines), editor=editor, handle_sigint=False), screen


class TimedLines:
    """Lines typed after pauses: ``(wait, line)``, where ``wait`` is seconds, or a condition
    polled until it holds (the person waits until they see something)."""

    def __init__(self, script: Iterable[tuple[float | Callable[[], bool], str | None]]) -> None:
        self._script = list(script)
        self.prompts_open: list[tuple[float, float]] = []

    async def readline(self) -> str | None:
        if not self._script:
            return None
        wait, line = self._script.pop(0)
        opened = time.time()
        if callable(wait):
            deadline = time.monotonic() + 60
            while not wait():
                if time.monotonic() > deadline:
                    raise AssertionError("the condition the scripted person waits for never held")
                await asyncio.sleep(0.02)
        else:
            await asyncio.sleep(wait)
        self.prompts_open.append((opened, time.time()))
        return line

    def close(self) -> None:
        pass


def timed_console(
    script: Iterable[tuple[float | Callable[[], bool], str | None]],
) -> tuple[HumanConsole, TimedLines, io.StringIO]:
    screen = io.StringIO()
    out = Console(file=screen, record=True, width=200, highlight=False, soft_wrap=True)
    lines = TimedLines(script)
    return HumanConsole(out=out, lines=lines, handle_sigint=False), lines, screen


# -- an LLM for the fault server ---------------------------------------------------------


def _node_prompt(messages: list[dict[str, Any]]) -> str:
    """The node's own user message: the last one that states a question (examples come before it)."""
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    return next((u for u in reversed(users) if u.startswith("Question:")), users[-1] if users else "")


def _rejections(messages: list[dict[str, Any]]) -> list[str]:
    """The reasons a person gave for rejecting earlier proposals (JSON-quoted in the prompt)."""
    found = []
    for m in messages:
        text = str(m.get("content", ""))
        if m.get("role") == "user" and "rejected that reply" in text:
            quoted = re.search(r"quoted as data: (\".*?\")\n", text)
            found.append(json.loads(quoted.group(1)) if quoted else "?")
    return found


def tree_policy(messages: list[dict[str, Any]]) -> str:
    """Replies in the LLM overseer's JSON protocol, deterministically, for any node.

    - decompose: a question starting "Split:" is split into two subquestions
      ("<rest> part 1?", "<rest> part 2?"); after a person's rejection, into one
      that quotes the reason. Any other question is answered: "direct(<q>)".
    - combine: the quoted sub-answers joined with " + ".
    - answer (a leaf, or a node that may not ask): "ans(<q>)".
    """
    system = str(messages[0].get("content", "")) if messages else ""
    prompt = _node_prompt(messages)
    question = prompt.removeprefix("Question:").split("\n", 1)[0].strip()
    reasons = _rejections(messages)
    if "ask simpler subquestions" in system:
        if question.startswith("Split:"):
            body = question.removeprefix("Split:").strip()
            if reasons:
                return json.dumps({"action": "ask", "subquestions": [f"{body} as told ({reasons[-1]})?"]})
            return json.dumps({"action": "ask", "subquestions": [f"{body} part 1?", f"{body} part 2?"]})
        return json.dumps({"action": "answer", "answer": f"direct({question})"})
    if "answers are below" in system:
        answers = [json.loads(a) for a in re.findall(r"^   answer: (\".*\")$", prompt, re.MULTILINE)]
        suffix = f" (after {len(reasons)} rejection(s))" if reasons else ""
        return json.dumps({"answer": " + ".join(answers) + suffix})
    return json.dumps({"answer": f"ans({question})"})


# -- a real terminal ---------------------------------------------------------------------


class Tmux:
    """One program in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen."""

    def __init__(self, argv: list[str], env: dict[str, str], *, width: int = 200, height: int = 60) -> None:
        need("tmux")  # fails the test naming the command that installs it
        self.folder = Path(tempfile.mkdtemp(prefix="hch-tmux-"))
        self.socket = self.folder / "s"
        self.done = self.folder / "exit-code"
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = (
            f"cd {shlex.quote(str(ROOT))} && env -i {assignments} {shlex.join(argv)}; "
            f"echo $? > {shlex.quote(str(self.done))}; sleep 600"
        )
        self._tmux("new-session", "-d", "-s", "hch", "-x", str(width), "-y", str(height), command)
        self._tmux("set-option", "-t", "hch", "history-limit", "20000")

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=check, timeout=30
        )

    def send(self, text: str, *, enter: bool = True) -> None:
        """Type ``text`` (literally), then Enter."""
        if text:
            self._tmux("send-keys", "-t", "hch", "-l", text)
        if enter:
            self._tmux("send-keys", "-t", "hch", "Enter")

    def key(self, name: str) -> None:
        """Press a key by its tmux name: ``C-c``, ``C-d``, ``Enter``."""
        self._tmux("send-keys", "-t", "hch", name)

    def screen(self) -> str:
        """Everything in the pane, scrollback included, as plain text."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "hch", "-S", "-20000").stdout

    def wait_for(self, pattern: str, *, timeout: float = 30, count: int = 1) -> str:
        """Wait until ``pattern`` (a regex) is on the screen ``count`` times; return the screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if len(re.findall(pattern, screen)) >= count:
                return screen
            if self.exit_code() is not None:
                screen = self.screen()
                if len(re.findall(pattern, screen)) >= count:
                    return screen
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not on the screen (x{count}) within {timeout}s; screen:\n{self.screen()}")

    def exit_code(self) -> int | None:
        try:
            text = self.done.read_text().strip()
        except OSError:
            return None
        return int(text) if text else None

    def wait_exit(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                return code
            time.sleep(0.05)
        raise AssertionError(f"the program did not exit within {timeout}s; screen:\n{self.screen()}")

    def close(self) -> None:
        self._tmux("kill-server", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def hch_argv(*args: str) -> list[str]:
    """``hch ARGS`` with this interpreter."""
    return [sys.executable, "-m", "cli", *args]


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        "HCH_HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "TERM": "xterm-256color",
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "LANG", "LC_ALL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env
