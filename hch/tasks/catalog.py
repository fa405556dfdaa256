"""The fixed set of tasks and lookup by name."""

from __future__ import annotations

from hch.errors import UsageError
from hch.tasks.assignments import ASSIGNMENTS
from hch.tasks.base import Task
from hch.tasks.permutation import PERMUTATION
from hch.tasks.wildcard import WILDCARD

ALL_TASKS: tuple[Task, ...] = (PERMUTATION, ASSIGNMENTS, WILDCARD)
"""Every task, in the order they are listed to users."""


def find_task(name: str) -> Task:
    """The task called ``name``; UsageError listing the known tasks otherwise."""
    for task in ALL_TASKS:
        if task.name == name:
            return task
    known = ", ".join(task.name for task in ALL_TASKS)
    raise UsageError(f"unknown task {name!r}; known tasks: {known}")
