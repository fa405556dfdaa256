"""Errors the engine raises on purpose. Each message is one line a user can act on."""

from __future__ import annotations


class HCHError(Exception):
    """Base class: anything the CLI reports as a one-line error."""


class UsageError(HCHError):
    """Bad input from the user: an unknown task, a malformed facts file, a bad flag value."""


class BoundExceeded(HCHError):
    """An overseer asked for more than its node's bounds allow.

    Overseers are told their bounds (``Workspace.can_ask``) before they ask, so
    this signals a bug in the overseer, not a run that ran out of budget.
    """
