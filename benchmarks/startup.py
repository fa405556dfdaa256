"""Startup: ``hch --help`` against ``python -c pass``, both as fresh processes.

The command runs as ``python -c "from cli import app; app()" --help`` from the
folder holding the ``hch`` package being measured, so a checkout of any commit can
be measured with the same interpreter and packages.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import hch
from benchmarks.measure import Figure, best, noise

ROOT = Path(hch.__file__).resolve().parents[1]


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(*, repeat: int = 7) -> list[Figure]:
    floor_times: list[float] = []
    help_times: list[float] = []
    _time([sys.executable, "-c", "from cli import app; app()", "--help"])  # warm the page cache and .pyc files
    for _ in range(repeat):
        floor_times.append(_time([sys.executable, "-c", "pass"]))
        help_times.append(_time([sys.executable, "-c", "from cli import app; app()", "--help"]))
    floor, value = best(floor_times), best(help_times)
    return [
        Figure(
            "startup: hch --help",
            f"{value:.3f} s ({noise(help_times)})",
            f"{floor:.3f} s python -c pass",
            value / floor,
            "< 0.25 s",
            value < 0.25,
        )
    ]
