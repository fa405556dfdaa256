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


def _sealed_ok(line: bytes, prev: str, event: Event) -> bool:
    """Whether ``line`` is exactly as the writer seals ``event`` after ``prev``: the bytes
    before the hash are what was hashed. (A line respelled by another tool fails this and
    is checked on its canonical JSON instead.)"""
    if line[-_SEALED_TAIL : -_SEALED_TAIL + len(_HASH_FIELD)] != _HASH_FIELD or line[-66:-2] != event.hash.encode():
        return False
    body = line[:-_SEALED_TAIL] + b"}"
    return chained_hash(prev, body) == event.hash


def _sealed_prefix(lines: list[bytes], parsed: Sequence[Event | dict[str, Any]]) -> int:
    """How many lines from the first are each exactly as the writer sealed its event, in
    order, up to the first ``run_end``: the common case, decided from the bytes.

    The same test as :func:`_sealed_ok` and the position checks of :func:`_check_chain`,
    in one loop without their per-line calls (a large file's lines are nearly all
    here); the first line that fails any of them is left to :func:`_check_chain`,
    which names what is wrong with it.
    """
    prev = GENESIS
    for seq, (line, item) in enumerate(zip(lines, parsed, strict=False)):
        if isinstance(item, dict) or item.seq != seq or (seq and item.kind == "header"):
            return seq
        stored = line[-66:-2]
        if line[-_SEALED_TAIL:-66] != _HASH_FIELD or stored != item.hash.encode():
            return seq
        # Hashed as the writer hashed it: the previous hash, then the line up to its own hash field.
        if chained_hash(prev, line[:-_SEALED_TAIL] + b"}") != item.hash:
            return seq
        prev = item.hash
        if item.kind == "run_end":
            return seq + 1
    return min(len(lines), len(parsed))


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
    sealed = _sealed_prefix(raw.lines, parsed) if parsed is not None else 0
    if sealed:
        assert parsed is not None
        header, last = parsed[0], parsed[sealed - 1]
        assert isinstance(header, Header) and not isinstance(last, dict)
        run_id, prev, last_kind = header.run_id, last.hash, last.kind
        end_line = sealed if last_kind == "run_end" else None
    for lineno, line in enumerate(raw.lines[sealed:], start=sealed + 1):
        item = parsed[lineno - 1] if parsed is not None else None
        expected_seq = lineno - 1
        if (
            end_line is None
            and not isinstance(item, dict | None)
            and item.seq == expected_seq
            and (lineno == 1 or item.kind != "header")
            and _sealed_ok(line, prev, item)
        ):
            # The common case, decided from the bytes: the line is what the writer sealed.
            prev, last_kind = item.hash, item.kind
            if isinstance(item, Header):
                run_id = item.run_id
            if last_kind == "run_end":
                end_line = lineno
            continue
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
