"""Replay and resume build only on transcripts whose chain verifies.

A replay or a resume rebuilds a run from the records of a file and writes a new
transcript that verifies as intact. Built on an edited, reordered or spliced
file, it would launder the tampering: the new file would carry the changed
records with a clean chain. So both first verify the chain of the file they
read (:func:`transcripts.verify.verify_transcript`) and refuse one that fails,
naming the line, unless the caller trusts it explicitly; the new transcript's
header then records that it was built from an unverified file
(:meth:`Integrity.lineage`).

A resume exists to continue a cut file, so for it a truncation (a missing
``run_end``, a last line cut mid-way) is not a problem; every other failure is.
The file must also still be what was read: the verified line count and head
hash must match the :class:`~transcripts.reader.Transcript` in hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transcripts.chain import GENESIS
from transcripts.events import JSONValue
from transcripts.reader import Transcript, TranscriptError
from transcripts.verify import Problem, VerifyReport, verify_transcript

_LISTED = 5
"""Most problems recorded in a new transcript's header."""


class UnverifiedTranscript(TranscriptError):
    """A transcript given to replay or resume whose chain does not verify; the message names the line."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Integrity:
    """What verifying a transcript before building on it found."""

    problems: list[Problem] = field(default_factory=list)
    """The failures that matter for this use (truncation is not one for a resume), first line first."""
    lines: list[str] = field(default_factory=list)
    """Each problem as ``FILE:LINE: KIND: MESSAGE``."""

    @property
    def verified(self) -> bool:
        return not self.problems

    def lineage(self) -> dict[str, JSONValue]:
        """Fields for the new transcript's ``replay_of`` / ``resumed_from`` header entry."""
        if self.verified:
            return {"verified": True}
        listed: list[JSONValue] = list(self.lines[:_LISTED])
        return {"verified": False, "trust_edited": True, "problems": listed}


def check_integrity(
    original: Transcript,
    *,
    allow_cut: bool,
    trust_edited: bool,
    action: str,
    report: VerifyReport | None = None,
) -> Integrity:
    """Verify the file ``original`` was read from before ``action`` (``replay``, ``resume``) builds on it.

    ``report`` is the verification of the very bytes ``original`` was read
    from (:func:`transcripts.verify.read_verified`); without it the file is
    verified again. Raises :class:`UnverifiedTranscript` naming the first
    problem's line, unless ``trust_edited``; returns what was found either way.
    """
    path = original.path
    if report is None:
        report = verify_transcript(path)
    problems = [p for p in report.problems if not (allow_cut and p.kind == "truncated")]
    last = original.events[-1] if original.events else original.header
    read_head = last.hash or GENESIS
    if report.lines != len(original.events) + 1 or report.head != read_head:
        problems.insert(
            0,
            Problem(
                report.lines,
                "changed",
                f"the file changed after it was read (now {report.lines} lines, head {report.head}; "
                f"read {len(original.events) + 1} lines, head {read_head})",
            ),
        )
    lines = [f"{path}:{p.line}: {p.kind}: {p.message}" for p in problems]
    if problems and not trust_edited:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise UnverifiedTranscript(
            f"{lines[0]}{more}: refusing to {action} a transcript that fails verification", problems
        )
    return Integrity(problems=problems, lines=lines)
