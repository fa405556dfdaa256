"""What every benchmark shares: a figure, timing, and the table the suite prints."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One measured figure, its floor measured in the same run, and their ratio.

    ``ratio`` is always *figure time / floor time* (1.0 is the floor; 1.3 is 30%
    slower than it), whether the figure is printed as a time or as a rate.
    """

    name: str
    value: str
    """The figure as printed (a time or a rate, with its unit)."""
    floor: str
    """The floor as printed, with what it is."""
    ratio: float
    target: str
    met: bool


def best(times: list[float]) -> float:
    """The least of repeated timings: what the code costs when the machine lets it run."""
    return min(times)


def noise(times: list[float]) -> str:
    """Median and range of repeated timings, for the reader to judge the machine's noise."""
    if len(times) < 2:
        return "1 run"
    return f"{len(times)} runs, median {statistics.median(times):.3f} s, max {max(times):.3f} s"


def table(figures: list[Figure]) -> str:
    """The suite's output: one line per figure."""
    rows = [("figure", "value", "floor (same run)", "ratio", "target", "")]
    for f in figures:
        rows.append((f.name, f.value, f.floor, f"{f.ratio:.2f}", f.target, "met" if f.met else "NOT MET"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compiled_env(folder: Path) -> dict[str, str]:
    """The environment of a measured ``hch`` process: this one's, with bytecode cached in ``folder``.

    An installed ``hch`` runs from compiled bytecode. Where PYTHONDONTWRITEBYTECODE is
    set (as in some sandboxes), every measured process would compile ``hch``'s own
    modules from their source again, which no user pays (about 60 ms of a replay).
    The cache goes to ``folder``, not into the checkout; the first run fills it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env
