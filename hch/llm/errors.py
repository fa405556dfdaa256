"""Errors of the model-call layer."""

from __future__ import annotations

from hch.errors import HCHError


class ModelCallError(HCHError):
    """A model call failed for good (after any retries); the message is one line naming the cause.

    ``cause`` is a short tag a caller can branch on: ``"unauthorized"``,
    ``"forbidden"``, ``"model_not_found"``, ``"not_found"``, ``"bad_request"``,
    ``"quota"``, ``"connection"``, ``"timeout"``, ``"gave_up"`` or ``"malformed"``.
    """

    def __init__(self, message: str, *, cause: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.cause = cause
        self.status = status
        self.attempts = attempts
