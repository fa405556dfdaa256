"""`hch --help` loads only what it shows: no engine, pydantic, OpenAI SDK or rich.

The time itself is measured by `python -m benchmarks` (startup against `python -c
pass`); this test checks the behaviour that makes it fast, so that a command module
importing the library at its top is caught here rather than in a benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import cli
from tests.audit_helpers import ROOT

HEAVY = ("pydantic", "openai", "httpx2", "rich", "transcripts", "operators", "diskcache", "tenacity", "asyncio")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return list(json.loads(proc.stdout.splitlines()[-1]))


FIX = "a command module imports the library at its top: import it inside the command (see commands/common.py)"


def test_the_command_line_imports_no_library_until_a_command_runs() -> None:
    modules = loaded_after("import cli")
    assert [m for m in modules if m.split(".")[0] in HEAVY] == [], FIX
    # hch.limits holds the stated limits --help quotes; like hch.defaults it imports only hch.errors.
    assert {m for m in modules if m.startswith("hch.")} <= {"hch.errors", "hch.defaults", "hch.limits"}


def test_help_lists_every_command_without_loading_the_library() -> None:
    modules = loaded_after("import sys\nfrom cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass")
    assert [m for m in modules if m.split(".")[0] in HEAVY] == [], FIX
    proc = subprocess.run([sys.executable, "-m", "cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("run", "eval", "tasks", "replay", "verify", "show", "diff", "export", "cache"):
        assert f"\n  {command} " in proc.stdout


def test_model_settings_load_without_the_openai_sdk() -> None:
    modules = loaded_after("import hch.llm.settings")
    assert not [m for m in modules if m.split(".")[0] in ("openai", "httpx2")]
    assert "hch.executor" not in modules


def test_a_run_spec_with_typed_model_settings_loads_without_the_openai_sdk() -> None:
    # RunSpec.llm is an LLMSettings: reading a spec (replay, show, operators) must not pull in the SDK.
    modules = loaded_after("from hch.app.spec import RunSpec\nRunSpec(question='Q', depth=1, llm={'model': 'm'})")
    assert not [m for m in modules if m.split(".")[0] in ("openai", "httpx2")]


def test_the_package_loads_each_name_on_first_use() -> None:
    assert [m for m in loaded_after("import hch") if m.startswith("hch.")] == []
    # The workspace's types come from the package root too, loaded when first named.
    loaded_after("import hch\nfor name in hch.__all__:\n    getattr(hch, name)")  # each one resolves
    modules = loaded_after("from hch import Arrival, Arrivals, BatchCheck, Planned")
    assert "hch.workspace" in modules


def test_a_command_is_built_for_click_only_when_it_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # Building a command reads every flag's annotation: a process pays for the command it runs.
    built: list[str] = []
    real = cli._click_command

    def recorded(name: str, source: cli.Source) -> Any:
        built.append(name)
        return real(name, source)

    monkeypatch.setattr(cli, "_click_command", recorded)
    with pytest.raises(SystemExit) as exit:
        cli.app(["schema"])
    assert exit.value.code == 0 and '"$schema"' in capsys.readouterr().out
    assert built == ["schema"]
    with pytest.raises(SystemExit):
        cli.app(["--help"])  # lists them all, so builds them all (each once per process)
    assert built[1:] == [name for name, _ in cli._COMMANDS]
    assert "\n  dataset " in capsys.readouterr().out
