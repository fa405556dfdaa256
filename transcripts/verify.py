"""Integrity of a transcript file: is it exactly what the writer wrote?

Every line's ``hash`` chains it to the line before (:mod:`transcripts.chain`)
and its ``seq`` is its position. :func:`verify_transcript` re-derives both from
the bytes on disk and reports, with its line number, the first place where the
file stops being what a writer produces:

- a line whose content does not match its hash (edited);
- a line whose ``seq`` is not its position (lines reordered, removed or inserted);
- a header after line 1, or a line that does not chain to the one before
  although its own content is intact (another file spliced in);
- a file that ends mid-line or without a ``run_end`` event (truncated), and
  lines after ``run_end`` (appended).

A file that is not a transcript at all (not JSON, no header, an unsupported
schema version, an event the schema rejects) raises
:class:`~transcripts.reader.TranscriptError` instead.

The chain has no secret: whoever rewrites a file *and* recomputes every hash
after the change produces a file that verifies. The last hash (``head``) pins
the whole file, so an auditor who recorded it can check a copy with
``hch verify --head HASH``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transcripts.chain import GENESIS, chained_hash, line_hash
from transcripts.events import SCHEMA_VERSION, Event, Header
from transcripts.reader import (
    RawLines,
    Transcript,
    TranscriptError,
    check_version,
    parse_events,
    parse_json_line,
    quick_event,
    read_lines,
    transcript_of,
    upgrade_line,
    validate_line,
)


@dataclass(frozen=True)
class Problem:
    """One integrity failure, at a line of the file."""

    line: int
    kind: str
    """``edited``, ``reordered``, ``spliced``, ``truncated`` or ``appended``."""
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify_transcript` found."""

    path: Path
    lines: int
    """Complete lines in the file."""
    head: str | None
    """The hash of the last complete line."""
    run_id: str
    finished: bool
    """Whether the last line is a ``run_end`` event."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: intact, or the first problem with its line number."""
        if self.ok:
            return f"{self.path}: intact: {self.lines} lines, run {self.run_id}, head {self.head}"
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return f"{self.path}:{first.line}: {first.kind}: {first.message}{more}"

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "lines": self.lines,
            "head": self.head,
            "run_id": self.run_id,
            "finished": self.finished,
            "problems": [{"line": p.line, "kind": p.kind, "message": p.message} for p in self.problems],
        }


def verify_transcript(path: Path, *, expect_head: str | None = None) -> VerifyReport:
    """Check ``path``'s hash chain and sequence; raise TranscriptError if it is not a transcript."""
    raw = read_lines(path)
    if not raw.lines:
        raise TranscriptError(f"{path}:1: no header (file is empty or cut inside its first line)")
    first = parse_json_line(path, 1, raw.lines[0])
    if first.get("kind") != "header":
        raise TranscriptError(f"{path}:1: first line is a {first.get('kind')!r} event, not a header (missing header?)")
    version = check_version(path, first)
    header = validate_line(path, 1, upgrade_line(first, version))
    parsed: list[Event | dict[str, Any]] = [header]
    for lineno, line in enumerate(raw.lines[1:], start=2):
        event = quick_event(line) if version == SCHEMA_VERSION else None
        if event is not None:
            parsed.append(event)
            continue
        data = parse_json_line(path, lineno, line)
        if data.get("kind") != "header":  # a second header is reported as a splice, below
            # Validate as an event, so a schema violation is reported as such (exit 2 in the CLI).
            validate_line(path, lineno, upgrade_line(data, version))
        parsed.append(data)
    return _check_chain(raw, parsed, expect_head)


def read_verified(
    path: Path, *, expect_head: str | None = None, requests: bool = True
) -> tuple[Transcript, VerifyReport]:
    """Read ``path`` as :func:`~transcripts.reader.read_transcript` does and verify it as
    :func:`verify_transcript` does, in one pass over its bytes (what replay and resume
    build on is then exactly what was verified). ``requests=False`` leaves model calls'
    requests out (see :func:`~transcripts.reader.parse_events`): the chain is checked
    on the lines' bytes all the same."""
    raw = read_lines(path)
    header, events, version = parse_events(raw, requests=requests)
    transcript = transcript_of(raw, header, events, version)
    # Events upgraded from an older schema are not what was written: check those lines as written.
    parsed: list[Event] | None = [header, *events] if version == SCHEMA_VERSION else None
    return transcript, _check_chain(raw, parsed, expect_head)


_HASH_FIELD = b',"hash":"'
_SEALED_TAIL = len(_HASH_FIELD) + 64 + len(b'"}')
"""A line as the writer seals it ends with its hash as the last key (transcripts.chain.seal)."""


def _sealed_run(lines: list[bytes], parsed: Sequence[Event | dict[str, Any]], start: int, prev: str) -> int:
    """How many lines from ``lines[start]`` on (the one before hashed ``prev``) are each
    exactly as the writer seals its event, in its place, up to a ``run_end``: the common
    case, decided from the bytes. The first line that fails any of this is left to
    :func:`_check_chain`, which names what is wrong with it. (A line respelled by another
    tool fails it too, and is checked on its canonical JSON instead.)"""
    end = min(len(lines), len(parsed))
    for seq in range(start, end):
        line, item = lines[seq], parsed[seq]
        if isinstance(item, dict) or item.seq != seq or (seq and item.kind == "header"):
            return seq - start
        # The hash is the last key, and the bytes before it are what was hashed after ``prev``.
        if line[-_SEALED_TAIL:-66] != _HASH_FIELD or line[-66:-2] != item.hash.encode():
            return seq - start
        if chained_hash(prev, line[:-_SEALED_TAIL] + b"}") != item.hash:
            return seq - start
        prev = item.hash
        if item.kind == "run_end":
            return seq + 1 - start
    return end - start


def _check_chain(
    raw: RawLines, parsed: Sequence[Event | dict[str, Any]] | None, expect_head: str | None
) -> VerifyReport:
    """The problems of the lines in ``raw``, given each line already parsed (as an event,
    or as a JSON object where it was not validated as one); None: parse them here."""
    path = raw.path
    problems: list[Problem] = []
    prev = GENESIS
    last_kind = ""
    end_line: int | None = None
    run_id = ""
    lineno = 1
    while lineno <= len(raw.lines):
        if parsed is not None and end_line is None:
            # The lines as the writer sealed them, in one loop (a large file's are nearly all).
            sealed = _sealed_run(raw.lines, parsed, lineno - 1, prev)
            if sealed:
                first, last = parsed[lineno - 1], parsed[lineno + sealed - 2]
                assert not isinstance(first, dict) and not isinstance(last, dict)
                if isinstance(first, Header):
                    run_id = first.run_id
                prev, last_kind = last.hash, last.kind
                lineno += sealed
                if last_kind == "run_end":
                    end_line = lineno - 1
                continue
        line = raw.lines[lineno - 1]
        item = parsed[lineno - 1] if parsed is not None else None
        expected_seq = lineno - 1
        data = item if isinstance(item, dict) else parse_json_line(path, lineno, line)
        if lineno == 1:
            run_id = str(data.get("run_id", ""))
        stored = data.get("hash")
        seq = data.get("seq")
        if end_line is not None and not any(p.kind == "appended" for p in problems):
            problems.append(Problem(lineno, "appended", f"line after the run_end event on line {end_line}"))
        if lineno > 1 and data.get("kind") == "header":
            problems.append(
                Problem(lineno, "spliced", f"a second header (run {data.get('run_id')}): another transcript spliced in")
            )
        elif seq != expected_seq:
            problems.append(
                Problem(
                    lineno,
                    "reordered",
                    f"seq is {seq}, expected {expected_seq}: lines were reordered, removed or inserted here",
                )
            )
        elif stored != line_hash(prev, data):
            problems.append(
                Problem(
                    lineno,
                    "edited",
                    f"hash does not match the line's content ({data.get('kind')} event{_node(data)}): "
                    "the line was edited, or does not belong after the line before it",
                )
            )
        prev = stored if isinstance(stored, str) else ""
        last_kind = str(data.get("kind"))
        if last_kind == "run_end" and end_line is None:
            end_line = lineno
        lineno += 1

    n = len(raw.lines)
    if raw.tail:
        problems.append(
            Problem(n + 1, "truncated", f"file ends mid-line at byte {raw.size} (cut after {n} complete lines)")
        )
    elif end_line is None:
        problems.append(
            Problem(
                n, "truncated", f"no run_end event: the file ends after line {n} (truncated, or the run was killed)"
            )
        )
    if expect_head is not None and prev != expect_head:
        problems.append(Problem(n, "edited", f"last hash is {prev}, not the expected {expect_head}"))
    problems.sort(key=lambda p: p.line)
    return VerifyReport(
        path=path,
        lines=n,
        head=prev or None,
        run_id=run_id,
        finished=last_kind == "run_end",
        problems=problems,
    )


def _node(data: dict[str, Any]) -> str:
    node = data.get("node_id")
    return f" of node {node}" if isinstance(node, str) else ""
