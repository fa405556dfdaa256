"""The stated limits of a run's bounds, and the one place they are checked.

Each limit is far beyond any run that finishes on one machine, and low enough
that a mistyped value (``--depth 10**30``, ``--size 10**9``) is refused in a
line instead of eating memory for minutes. ``--help`` and docs/limits.md quote
these numbers.

- depth: a tree deeper than 1,000 levels has node ids (tree positions) of
  thousands of characters on every line of its transcript; every part of hch
  (building, running, show, HTML, diff, replay) handles depth 1,000 without
  recursion.
- budget: 10,000,000 calls, a hundred times the largest tree measured in
  benchmarks/memory.py.
- token budget: 10,000,000,000 tokens, more than any account spends on
  one run (the limit only refuses typos like ``--token-budget 1e30``).
- subquestions per node: 1,000 (one batch of them is one prompt).
- size of a generated task instance: 100,000 elements.
- instances per evaluation (``--n``): 100,000.
"""

from __future__ import annotations

from hch.errors import UsageError

MAX_DEPTH = 1_000
MAX_BUDGET = 10_000_000
MAX_TOKEN_BUDGET = 10_000_000_000
MAX_SUBQUESTIONS = 1_000
MAX_SIZE = 100_000
MAX_INSTANCES = 100_000


def check_range(name: str, value: int, low: int, high: int, unit: tuple[str, str] = ("", "")) -> None:
    """A one-line :class:`UsageError` unless ``low <= value <= high`` (``unit``: singular and plural)."""
    if value < low:
        least = "0 or more" if low == 0 else f"at least {low}{unit[low != 1]}"
        raise UsageError(f"{name} must be {least}, got {value}")
    if value > high:
        raise UsageError(f"{name} must be at most {high:,}{unit[1]}, got {value:,} (the stated limit: docs/limits.md)")


def check_depth(depth: int, name: str = "depth") -> None:
    check_range(name, depth, 0, MAX_DEPTH)


def check_budget(budget: int | None, name: str = "budget") -> None:
    """None means unbounded, which is allowed."""
    if budget is not None:
        check_range(name, budget, 1, MAX_BUDGET, (" call", " calls"))


def check_token_budget(budget: int | None, name: str = "token budget") -> None:
    """None means unbounded, which is allowed."""
    if budget is not None:
        check_range(name, budget, 1, MAX_TOKEN_BUDGET, (" token", " tokens"))


def check_max_subquestions(count: int, name: str = "max subquestions") -> None:
    check_range(name, count, 1, MAX_SUBQUESTIONS)


def check_size(size: int, name: str = "size") -> None:
    check_range(name, size, 1, MAX_SIZE)


def check_instances(n: int, name: str = "n") -> None:
    check_range(name, n, 1, MAX_INSTANCES)
