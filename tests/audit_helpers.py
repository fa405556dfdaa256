"""Helpers for the audit tests: make transcripts of task runs, run the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from hch.app.spec import RunSpec, TaskSpec, build_model
from hch.executor import run_question
from hch.tasks import find_task
from hch.testing import BranchingPolicy as BranchingPolicy  # its home now; re-exported for older tests
from hch.testing import request_key as request_key

ROOT = Path(__file__).resolve().parents[1]


def hch(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``hch ARGS`` as a real subprocess with its own $HCH_HOME."""
    env = {**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


def task_spec(task: str = "permutation", seed: int = 3, size: int = 64, depth: int = 7, **kw: Any) -> RunSpec:
    case = find_task(task).generate(random.Random(seed), size)
    return RunSpec(
        question=case.question,
        depth=depth,
        task=TaskSpec(name=case.task, facts=case.facts, seed=seed, size=size),
        **kw,
    )


async def task_run(path: Path, spec: RunSpec | None = None) -> Path:
    """Run ``spec`` (a permutation instance by default) and write its transcript to ``path``."""
    spec = spec or task_spec()
    await run_question(
        build_model(spec),
        spec.question,
        transcript=path,
        budget=spec.budget,
        max_subquestions=spec.max_subquestions,
        settings={"spec": spec.model_dump(mode="json")},
    )
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def edit_line(lines: list[str], index: int, **changes: Any) -> list[str]:
    """``lines`` with the JSON line at ``index`` changed (its hash left as it was)."""
    data = json.loads(lines[index])
    data.update(changes)
    return [*lines[:index], json.dumps(data), *lines[index + 1 :]]


# -- an LLM tree against the fault server -------------------------------------------------


def llm_run_args(base_url: str, model: str, question: str = "Q", depth: int = 4) -> list[str]:
    """`hch run` flags for an LLM tree against the fault server (no cache: only playback may save a call)."""
    return [
        "run",
        question,
        "--overseer",
        "llm",
        "--model",
        model,
        "--base-url",
        base_url,
        "--depth",
        str(depth),
        "--no-cache",
        "--max-attempts",
        "1",
        "--json",
    ]
