"""The library names options by their own names; only the command line shows its flags (issue 8).

Every string in hch/, operators/ and transcripts/ other than a docstring is read
for a flag of any ``hch`` command: an error or hint there names the option
(``base_url``), and takes a :data:`hch.errors.Label` where the command line should
show its flag (``--base-url``). Two kinds of string may hold a flag: one that is a
flag alone (an argument of a program the library starts: the embedded model
server's own command line), and a whole ``hch`` command line quoted for a person
to type (``hch run --resume``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

from cli import app
from tests.audit_helpers import ROOT

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")
COMMAND_LINE = re.compile(r"\bhch [a-z-]+(?: --?[a-z][\w-]*)*")
"""``hch run --resume``: a command for a person to type, quoted whole."""


def hch_flags() -> set[str]:
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    flags = {
        opt
        for sub in command.commands.values()
        for param in sub.params
        for opt in [*param.opts, *param.secondary_opts]
        if opt.startswith("--")
    }
    return flags - {"--help"}


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings (of modules, classes, functions and attributes)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def flags_named(path: Path, flags: set[str]) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            # f"--{key} ...": a flag made from a name.
            for part, after in zip(node.values, node.values[1:], strict=False):
                before = part.value if isinstance(part, ast.Constant) else None
                if isinstance(after, ast.FormattedValue) and re.search(r"(?<![\w-])--$", str(before)):
                    found.append((node.lineno, "--{...}"))
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in skip:
            continue
        if node.value.strip() in flags:
            continue  # an argument of a program the library starts
        text = COMMAND_LINE.sub("", node.value)
        found.extend((node.lineno, flag) for flag in FLAG.findall(text) if flag in flags)
    return found


def test_no_library_message_names_a_command_line_flag() -> None:
    flags = hch_flags()
    assert {"--model", "--base-url", "--transcript", "--human-depths", "--depth", "--resume"} <= flags
    named = []
    for package in ("hch", "operators", "transcripts"):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if where.startswith("hch/testing/"):
                continue  # the fault server and test doubles: not messages of the library's runs
            named += [f"{where}:{line}: {flag}" for line, flag in flags_named(path, flags)]
    assert named == []


def test_the_check_finds_a_flag_in_a_message(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Docstrings may name --model."""\n'
        'ARGV = ["--model", "x"]\n'
        'HINT = "resume it with hch run --resume"\n'
        "def f(key: str) -> None:\n"
        '    raise ValueError("give --model and --base-url")\n'
        "def g(key: str) -> None:\n"
        '    raise ValueError(f"--{key} conflicts")\n'
    )
    assert flags_named(module, {"--model", "--base-url", "--resume"}) == [
        (5, "--model"),
        (5, "--base-url"),
        (7, "--{...}"),
    ]
