"""The tools the tests drive (chromium, chromedriver, tmux) are each checked on their own.

A machine often has chromium without chromium-driver; a check of chromium alone
then left the Chromium tests to fail with errors. ``scripts/setup.sh --check``
runs the same check ``--test`` does before installing, against a PATH made here
that holds only some of the tools.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.tools import need, tools

ROOT = Path(__file__).resolve().parents[1]


def fake_bin(folder: Path, tools: list[str]) -> Path:
    folder.mkdir()
    for tool in tools:
        path = folder / tool
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return folder


def check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": str(path)}
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "setup.sh"), "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_chromium_without_its_driver_is_found_missing(tmp_path: Path) -> None:
    proc = check(fake_bin(tmp_path / "bin", ["chromium", "tmux"]))
    assert proc.returncode == 1, proc.stderr
    assert "chromedriver" in proc.stderr and "apt-get install -y chromium-driver" in proc.stderr
    assert "apt-get install -y chromium-driver\n" in proc.stderr  # only the driver: chromium and tmux are there


def test_each_missing_tool_is_named_with_its_package(tmp_path: Path) -> None:
    proc = check(fake_bin(tmp_path / "bin", ["chromedriver"]))
    assert proc.returncode == 1
    assert "apt-get install -y chromium tmux" in proc.stderr
    proc = check(fake_bin(tmp_path / "all", ["chromium", "chromedriver", "tmux"]))
    assert proc.returncode == 0, proc.stderr
    assert "chromium, chromedriver and tmux are there" in proc.stdout


def test_the_tests_failure_names_the_installing_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "bin", ["chromium"])))
    assert need("chromium") == str(tmp_path / "bin" / "chromium")
    for tool, package in tools().items():
        if tool == "chromium":
            continue
        with pytest.raises(pytest.fail.Exception, match=f"{tool} is missing: apt-get install -y {package}"):
            need(tool)
