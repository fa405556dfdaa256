"""Append-only transcript writer.

Events are stamped (seq, time, hash) on the caller's thread, so their order is
the order the engine emitted them, and written by one background thread so
that file I/O never blocks the event loop. Lines sealed while an event loop runs
are handed to that thread together, once per turn of the loop (a callback the
first line of a turn schedules): handed over one at a time, every line woke the
thread, which then took the GIL from the loop to write and flush it (2 us a
line, 4% of a replay). Each batch is written and flushed to the OS as soon as the
thread has it: a process killed at any moment, even by SIGKILL, leaves a file
whose complete lines are a valid prefix of the run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from transcripts.chain import GENESIS, seal
from transcripts.events import Event, Header, may_hold_floats

Listener = Callable[[Event], None]

_STOP = object()


class TranscriptWriter:
    """Writes one run's events to ``path`` (created with its parents)."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path = path
        self._prev_hash = GENESIS
        self._seq = 0
        self._listeners: list[Listener] = []
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._turn: list[bytes] = []
        """Lines sealed in this turn of the event loop, not yet handed to the thread."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened here (before the loop runs anything) so a bad path fails fast.
        self._file = path.open("xb")  # the sealed lines are UTF-8 bytes already
        self._thread = threading.Thread(target=self._drain, name="transcript-writer", daemon=True)
        self._thread.start()
        self.header = header
        self.emit(header)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every stamped event (on the emitting thread)."""
        self._listeners.append(listener)

    def emit(self, event: Event) -> Event:
        """Stamp ``event`` with seq, time and chained hash, queue it for writing, and return it.

        The event is stamped in place: the engine makes each event for its one line, and
        a stamped copy per event (for listeners, such as a replay keeping what it ran)
        cost about half as much as sealing it.
        """
        if self._error is not None:
            raise OSError(f"transcript {self.path} can no longer be written: {self._error}")
        serialised = event.serialised_field()
        excluded = ("hash",) if serialised is None else ("hash", serialised[0])
        stamps: dict[str, object] = {"seq": self._seq, "time": time.time()}
        floats = may_hold_floats(type(event))
        # The fields as they are, when canonical JSON writes them as pydantic would dump them:
        # dumping costs as much as the rest of sealing. What only pydantic turns into JSON (a
        # nested model, a date, a set) makes the serialiser refuse, and the event is dumped.
        fields = dict(event.__dict__)
        for name in excluded:
            del fields[name]
        fields.update(stamps)
        try:
            digest, line = seal(self._prev_hash, fields, serialised, floats=floats)
        except TypeError:
            fields = event.model_dump(mode="json", exclude=set(excluded))
            fields.update(stamps)
            digest, line = seal(self._prev_hash, fields, serialised, floats=floats)
        self._prev_hash = digest
        self._seq += 1
        self._hand_over(line)
        stamps["hash"] = digest
        event.__dict__.update(stamps)  # a frozen model's fields: these three are the writer's to set
        for listener in self._listeners:
            listener(event)
        return event

    def _hand_over(self, line: bytes) -> None:
        if self._turn:
            self._turn.append(line)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a caller writing outside one): at once
            self._queue.put(line)
            return
        self._turn.append(line)
        loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        if self._turn:
            lines, self._turn = self._turn, []
            self._queue.put(b"".join(lines))

    def close(self) -> None:
        """Write everything queued and close the file. Safe to call twice."""
        self._end_of_turn()
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if not self._file.closed:
            self._file.close()
        if self._error is not None:
            raise OSError(f"transcript {self.path} was not fully written: {self._error}")

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                assert isinstance(item, bytes)
                self._file.write(item)
                self._file.flush()
            except OSError as exc:  # disk full, removed mount: surfaced on next emit/close
                self._error = exc
                return
