"""Text from outside reaches the terminal as text: no escape sequences, no rich markup, no emoji codes.

A model's answer, a question, a server's error body or a file's content may
hold ESC sequences (clear the screen, retitle the window), C1 codes, rich
markup (``[red]``) or emoji codes (``:100:``, which rich turned into an emoji:
verify printed ``FILE💯 edited`` for line 100).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hch import hch_tree, run_question
from hch.testing import FaultConfig, FaultServer, FunctionModel
from hch.text import visible
from hch.workspace import Workspace
from tests.audit_helpers import ROOT, edit_line, hch, lines_of, task_run, task_spec, write_lines

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m [bold]markup[/bold] :100: :smile: \u202eevil\r\x08end"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\x08")


def assert_shown_as_text(output: str) -> None:
    for char in RAW:
        assert char not in output, f"{char!r} reached the terminal: {output!r}"
    assert "💯" not in output and "😄" not in output


def test_visible_makes_every_control_character_visible() -> None:
    shown = visible(HOSTILE)
    assert_shown_as_text(shown)
    assert "\\x1b]0;pwned\\x07" in shown and "\\x9b" in shown and "\\u202e" in shown and "\\r" not in shown
    assert "[bold]markup[/bold] :100:" in shown  # left as written: the consoles print it without markup or emoji
    assert visible("line one\n\tline two") == "line one\n\tline two"
    assert visible("a\nb", one_line=True) == "a\\nb"


def test_verify_prints_line_100_without_an_emoji(tmp_path: Path, hch_home: Path) -> None:
    path = asyncio.run(task_run(tmp_path / "run.jsonl", task_spec()))
    lines = lines_of(path)
    assert len(lines) > 120
    edited = write_lines(tmp_path / "edited.jsonl", edit_line(lines, 99, time=1.0))
    proc = hch("verify", str(edited), home=hch_home)
    assert proc.returncode == 1
    assert f"{edited}:100: edited" in proc.stdout and "💯" not in proc.stdout


class Hostile:
    """An overseer whose subquestion and answer carry terminal sequences and markup."""

    name = "hostile-overseer"

    async def __call__(self, ws: Workspace) -> str:
        if ws.can_ask(1):
            (sub,) = await ws.ask(f"sub {HOSTILE}")
            return f"{HOSTILE} / {sub}"
        return HOSTILE


def test_show_and_diff_print_recorded_text_as_text(tmp_path: Path, hch_home: Path) -> None:
    path = tmp_path / "hostile.jsonl"
    tree = hch_tree(Hostile(), FunctionModel(lambda node: f"leaf {HOSTILE}"), 2)
    asyncio.run(run_question(tree, f"question {HOSTILE}", transcript=path))
    for args in (["show", str(path)], ["show", str(path), "--node", "0.0"], ["diff", str(path), str(path)]):
        proc = hch(*args, home=hch_home)
        assert proc.returncode == 0, proc.stderr
        assert_shown_as_text(proc.stdout + proc.stderr)
        if args[0] == "show":  # shown, not obeyed (rich's Text itself drops BEL, BS and CR)
            assert "\\x1b]0;pwned" in proc.stdout and "[bold]markup[/bold] :100:" in proc.stdout


def hostile_model(messages: list[dict[str, Any]]) -> str:
    user = str(messages[-1]["content"])
    if "You may ask at most" in user:
        return json.dumps({"action": "answer", "answer": f"answer {HOSTILE}"})
    return json.dumps({"answer": f"answer {HOSTILE}"})


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
    env.update(HCH_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_run_prints_a_models_answer_as_text(hch_home: Path, as_json: bool) -> None:
    with FaultServer(FaultConfig(models=None), answer=hostile_model) as server:
        proc = run_cli(
            "run", f"question {HOSTILE}", "--overseer", "llm", "--model", "m", "--base-url", server.base_url,
            "--depth", "1", *(["--json"] if as_json else []), home=hch_home,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert_shown_as_text(proc.stdout + proc.stderr)
    if as_json:
        assert json.loads(proc.stdout)["answer"] == f"answer {HOSTILE}"  # JSON carries the text exactly
    else:
        assert "answer \\x1b]0;pwned\\x07" in proc.stdout and "[bold]markup[/bold] :100:" in proc.stdout


def test_an_error_line_carrying_a_servers_text_is_shown_as_text(hch_home: Path) -> None:
    # The fault server names the unknown model in its 404 body, as OpenAI does.
    with FaultServer(FaultConfig(models=["served"])) as server:
        proc = run_cli(
            "run", "Q", "--overseer", "llm", "--model", f"m{HOSTILE}", "--base-url", server.base_url,
            "--depth", "1", "--max-attempts", "1", home=hch_home,
        )  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not found" in lines[0]
    assert_shown_as_text(proc.stderr)
    assert "\\x1b]0;pwned\\x07" in proc.stderr
