"""The programs the tests drive (scripts/test-tools.txt), found on PATH or failed for with the install command.

Tests that need one fail, rather than skip, when it is missing: a page or a
terminal session is only known to work once a browser or a terminal has shown it.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@cache
def tools() -> dict[str, str]:
    """Each program the tests drive, with the Debian package that installs it."""
    tools: dict[str, str] = {}
    for line in (ROOT / "scripts" / "test-tools.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            tool, package = line.split()
            tools[tool] = package
    return tools


def need(tool: str) -> str:
    """The path of ``tool``; fail the test naming the command that installs it when it is missing."""
    found = shutil.which(tool)
    if found is None:
        pytest.fail(
            f"{tool} is missing: apt-get install -y {tools()[tool]} (or: bash scripts/setup.sh --test, as root)",
            pytrace=False,
        )
    return found
