"""Algorithmic tasks with exact answers, a programmatic overseer and a lookup oracle.

Each task (permutation powering, sequential assignments, wildcard search)
generates seeded instances, checks user facts and questions, solves them
directly (the ground truth), and supplies the H and M0 of an HCH tree that
answers by decomposition. See docs/tasks.md.
"""

from hch.tasks.assignments import ASSIGNMENTS
from hch.tasks.base import UNKNOWN, Instance, Task, lookup
from hch.tasks.catalog import ALL_TASKS, find_task
from hch.tasks.files import load_instances
from hch.tasks.permutation import PERMUTATION
from hch.tasks.wildcard import WILDCARD

__all__ = [
    "ALL_TASKS",
    "ASSIGNMENTS",
    "PERMUTATION",
    "UNKNOWN",
    "WILDCARD",
    "Instance",
    "Task",
    "find_task",
    "load_instances",
    "lookup",
]
