"""Reading transcripts back as typed events.

The reader is strict about everything but the very end of the file: a last
line with no newline is what a killed writer leaves, so it is reported as a
cut (``Transcript.cut``) and the complete lines before it are returned. Any
other malformed line is an error that names the file and line.

Older schema versions are read by upgrading each line, before validation,
through :data:`UPGRADES` (one function per version step; see
docs/transcripts.md). The hash chain is always checked on the lines as written
(:mod:`transcripts.verify`), never on upgraded ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from transcripts.events import EVENT_ADAPTER, SCHEMA_VERSION, Event, Header, ModelCall, RunEnd

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]

UPGRADES: dict[int, Upgrade] = {}
"""``UPGRADES[v]`` turns one line (header or event) of schema version ``v``
into the same line in version ``v + 1``. Version 1 is the first published
version, so there is none yet; a change to the format that old files cannot
satisfy bumps :data:`~transcripts.events.SCHEMA_VERSION` and adds the step
from the previous version here."""


class TranscriptError(ValueError):
    """A file that cannot be read as a transcript; the message names file and line."""


@dataclass(frozen=True)
class Transcript:
    """A transcript as read from disk."""

    path: Path
    header: Header
    events: list[Event]
    """Every event after the header, in file order (``events[i]`` is on line ``i + 2``)."""
    cut: str | None
    """Why the file looks cut short (None when it ends with a ``run_end`` line)."""
    schema_version: int = SCHEMA_VERSION
    """The version the file was written in (``header`` is upgraded to the current one)."""

    @property
    def end(self) -> RunEnd | None:
        last = self.events[-1] if self.events else None
        return last if isinstance(last, RunEnd) else None


@dataclass(frozen=True)
class RawLines:
    """A file split into complete lines, and what follows the last newline."""

    path: Path
    lines: list[bytes]
    """Complete lines without their newline; line ``n`` is ``lines[n - 1]``."""
    tail: bytes
    """Bytes after the last newline (empty unless the file was cut mid-line)."""
    size: int


_CHUNK = 1 << 18
"""Bytes read at a time: the file is split as it is read, never held whole besides its lines
(reading it whole first cost a 19,000-line replay 5 ms more, and as much memory again as its lines)."""


def read_lines(path: Path) -> RawLines:
    """The file's lines; raise :class:`TranscriptError` if it cannot be read."""
    lines: list[bytes] = []
    pending: list[bytes] = []  # the line being read, in pieces (a line may span chunks)
    size = 0
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                size += len(chunk)
                parts = chunk.split(b"\n")
                if len(parts) == 1:  # no newline in this chunk
                    pending.append(chunk)
                    continue
                if pending:
                    parts[0] = b"".join((*pending, parts[0]))
                pending = [parts.pop()]  # after the chunk's last newline (b"" at its end)
                lines += parts
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return RawLines(path=path, lines=lines, tail=b"".join(pending), size=size)


def parse_json_line(path: Path, lineno: int, raw: bytes) -> dict[str, Any]:
    """One line as a JSON object with a ``kind``; raise :class:`TranscriptError` naming the line."""
    where = f"{path}:{lineno}"
    if not raw.strip():
        raise TranscriptError(f"{where}: empty line")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        hint = " (is this a transcript?)" if lineno == 1 else ""
        raise TranscriptError(f"{where}: not JSON ({exc}){hint}") from None
    except RecursionError:  # json's decoder recurses per nesting level: no transcript nests this deep
        raise TranscriptError(f"{where}: not a transcript event (JSON nested too deeply)") from None
    if not isinstance(data, dict) or "kind" not in data:
        raise TranscriptError(f"{where}: not a transcript event (no 'kind' field)")
    return data


def validate_line(path: Path, lineno: int, data: dict[str, Any]) -> Event:
    """A parsed line as a typed event; raise :class:`TranscriptError` naming the line."""
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise TranscriptError(f"{path}:{lineno}: invalid {data.get('kind')!r} event: {loc}: {first['msg']}") from None


def check_version(path: Path, header: dict[str, Any]) -> int:
    """The header's schema version, if this hch can read it (raise otherwise)."""
    version = header.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TranscriptError(f"{path}:1: header has no integer schema_version")
    if version == SCHEMA_VERSION:
        return version
    oldest = min([SCHEMA_VERSION, *(v for v in UPGRADES if all(w in UPGRADES for w in range(v, SCHEMA_VERSION)))])
    readable = f"version {SCHEMA_VERSION}" if oldest == SCHEMA_VERSION else f"versions {oldest} to {SCHEMA_VERSION}"
    if version > SCHEMA_VERSION:
        raise TranscriptError(
            f"{path}:1: schema version {version} is not supported (this hch reads {readable}; "
            "the file was written by a newer hch)"
        )
    if version < oldest:
        raise TranscriptError(f"{path}:1: schema version {version} is not supported (this hch reads {readable})")
    return version


def upgrade_line(data: dict[str, Any], version: int) -> dict[str, Any]:
    """``data`` (written in ``version``) brought to the current schema version."""
    for step in range(version, SCHEMA_VERSION):
        data = UPGRADES[step](dict(data))
    return data


def quick_event(raw: bytes) -> Event | None:
    """``raw`` as an event of the current schema, or None if it is not a valid one.

    The common case in one step: pydantic parses the bytes and validates them
    together (faster than ``json.loads`` alone). A line it refuses is to be
    parsed again step by step (:func:`parse_json_line`, :func:`validate_line`),
    so that the error names the line and what is wrong with it.
    """
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValueError:  # pydantic's ValidationError, for bad JSON too
        return None


_REQUEST_OPEN = b',"request":{'
_REQUEST_CLOSE = b'},"request_hash":"'


def quick_record(raw: bytes) -> Event | None:
    """:func:`quick_event`, with a model call's request left out (an empty dict).

    Replay and resume match recorded calls by their request hash, never by the
    request, and building each request's objects (the whole prompt) is most of a
    large run's parse. The request is cut out of the line as the writer writes it:
    canonical JSON with sorted keys, so ``request`` is the key before
    ``request_hash`` (inside strings every quote is escaped, so neither pattern can
    match there), and everything else is validated as usual. A line in another form
    (re-serialised by another tool, or not a model call) is read whole.
    """
    start = raw.find(_REQUEST_OPEN)
    if start >= 0:
        end = raw.rfind(_REQUEST_CLOSE)
        if end >= start + len(_REQUEST_OPEN):
            event = quick_event(raw[: start + len(_REQUEST_OPEN)] + raw[end:])
            if isinstance(event, ModelCall):
                return event
    return quick_event(raw)


def _header(path: Path, line: bytes) -> tuple[Header, int]:
    """The first line as a header (upgraded to the current schema), and the version it was written in."""
    data = parse_json_line(path, 1, line)
    if data.get("kind") != "header":
        raise TranscriptError(f"{path}:1: first line is a {data.get('kind')!r} event, not a header (missing header?)")
    version = check_version(path, data)
    header = validate_line(path, 1, upgrade_line(data, version))
    assert isinstance(header, Header)
    return header, version


def read_header(path: Path) -> Header:
    """The header of the transcript at ``path``, reading only its first line."""
    try:
        with path.open("rb") as file:
            line = file.readline()
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not line.endswith(b"\n"):
        raise TranscriptError(f"{path}:1: no header (file is empty or cut inside its first line)")
    return _header(path, line[:-1])[0]


def parse_events(raw: RawLines, *, requests: bool = True) -> tuple[Header, list[Event], int]:
    """The header, every event after it, and the schema version the file was written in.

    Raises :class:`TranscriptError` at the first line that is not a valid
    event, or that is a second header. With ``requests=False`` the model calls
    written as the writer writes them are read without their requests (an empty
    dict; see :func:`quick_record`), for replay and resume.
    """
    path, lines = raw.path, raw.lines
    if not lines:
        raise TranscriptError(f"{path}:1: no header (file is empty or cut inside its first line)")
    first, version = _header(path, lines[0])
    events: list[Event] = []
    # The quick way for the current schema; a line it refuses (or an older schema's) the
    # careful way, step by step, so that the error names the line and what is wrong.
    quick = None if version != SCHEMA_VERSION else quick_event if requests else quick_record
    for lineno, line in enumerate(lines[1:], start=2):
        event = quick(line) if quick is not None else None
        if event is None:
            event = validate_line(path, lineno, upgrade_line(parse_json_line(path, lineno, line), version))
        if type(event) is Header:  # (events are final classes; a failed isinstance costs more)
            raise TranscriptError(f"{path}:{lineno}: a second header (files spliced together?)")
        events.append(event)
    return first, events, version


def transcript_of(raw: RawLines, header: Header, events: list[Event], version: int) -> Transcript:
    """The transcript :func:`parse_events` read from ``raw``, with why it looks cut short (if it does)."""
    cut: str | None = None
    if raw.tail:
        cut = f"{raw.path}:{len(raw.lines) + 1}: last line is incomplete (file ends mid-event at byte {raw.size})"
    elif not (events and isinstance(events[-1], RunEnd)):
        cut = f"{raw.path}:{len(raw.lines)}: no run_end event (the run did not finish)"
    return Transcript(path=raw.path, header=header, events=events, cut=cut, schema_version=version)


def read_transcript(path: Path) -> Transcript:
    """Read and validate ``path``; raise :class:`TranscriptError` if it is not a transcript."""
    raw = read_lines(path)
    return transcript_of(raw, *parse_events(raw))
