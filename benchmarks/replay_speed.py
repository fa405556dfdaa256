"""`hch replay` of a large LLM run: events per second of the whole command.

An LLM tree of branching 4 and depth 6 (5,461 nodes, 6,826 model calls, about
19,000 events) is run once by ``hch run`` against the fault server, then replayed
offline by ``hch replay`` as a fresh process (startup, reading, re-executing,
writing the replay's transcript, comparing node by node, and exit all counted),
with its modules' bytecode cached as an installed ``hch`` has it
(:func:`~benchmarks.measure.compiled_env`).
The floor is reading the transcript's lines as JSON (``json.loads`` of every
line), which no replay can avoid, measured in the same run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import Figure, best, compiled_env, noise
from benchmarks.startup import ROOT
from hch.testing import BranchingPolicy, FaultConfig, FaultServer


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**compiled_env(home / "bytecode"), "HCH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", "from cli import app; app()", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def measure(*, branching: int = 4, depth: int = 6, repeat: int = 3) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with FaultServer(FaultConfig(), answer=BranchingPolicy(fanout=(branching,) * depth)) as server:
            run = hch(
                *("run", "Q", "--overseer", "llm", "--model", server.model, "--base-url", server.base_url),
                *("--depth", str(depth), "--max-subquestions", str(branching), "--no-cache", "--json"),
                *("--concurrency", "32"),
                home=home,
            )
        path = Path(json.loads(run.stdout)["transcript"])
        lines = path.read_bytes().splitlines()
        events = len(lines)
        floor_times, replay_times, cpu_times = [], [], []
        for r in range(repeat):
            start = time.perf_counter()
            for line in lines:
                json.loads(line)
            floor_times.append(time.perf_counter() - start)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            out = hch("replay", str(path), "--json", "--transcript", str(home / f"replay{r}.jsonl"), home=home)
            replay_times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU of the replay process (all its threads): moves less than wall time under load.
            cpu_times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            assert json.loads(out.stdout)["identical"] is True
    floor, wall = best(floor_times), best(replay_times)
    return [
        Figure(
            f"hch replay ({events:,} events)",
            f"{events / wall:,.0f} events/s ({wall:.3f} s, CPU {best(cpu_times):.3f} s; {noise(replay_times)})",
            f"{floor:.3f} s json.loads of every line",
            wall / floor,
            ">= 20,000 events/s",
            events / wall >= 20_000,
        )
    ]
