"""Reading a person's keyboard without blocking the event loop.

:class:`FdLines` reads lines from a file descriptor (the terminal) with
``loop.add_reader``: nothing waits on the keyboard but a registered callback,
so every other branch of the tree keeps running while a prompt is open. A
pending read can be cancelled at any moment without losing typed bytes (they
are kept in the object, not in the cancelled coroutine).

:class:`ScriptedLines` plays a fixed list of lines, for tests that need no
terminal. :func:`run_editor` opens ``$EDITOR`` on a text as a child process
that the loop awaits.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shlex
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from hch.errors import UsageError


class LineSource(Protocol):
    """Where typed lines come from."""

    async def readline(self) -> str | None:
        """The next line without its newline, or None at end of input (Ctrl-D, stdin closed)."""
        ...

    def close(self) -> None:
        """Stop reading (release the descriptor's registration)."""
        ...


class FdLines:
    """Lines from a file descriptor, read through the event loop's selector.

    Falls back to a worker thread for descriptors the selector cannot watch
    (a regular file given as stdin). On a terminal in canonical mode the
    kernel hands over whole lines, so a read never blocks the loop.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._eof = False
        self._pollable: bool | None = None

    async def readline(self) -> str | None:
        while "\n" not in self._text and not self._eof:
            chunk = await self._read_chunk()
            if not chunk:
                self._eof = True
                self._text += self._decoder.decode(b"", final=True)
            else:
                self._text += self._decoder.decode(chunk)
        if "\n" in self._text:
            line, self._text = self._text.split("\n", 1)
            return line.removesuffix("\r")
        if self._text:
            line, self._text = self._text, ""
            return line
        return None

    async def _read_chunk(self) -> bytes:
        loop = asyncio.get_running_loop()
        if self._pollable is None:
            try:
                loop.add_reader(self.fd, lambda: None)
                loop.remove_reader(self.fd)
                self._pollable = True
            except (PermissionError, OSError, NotImplementedError, ValueError):
                self._pollable = False
        if not self._pollable:
            return await asyncio.to_thread(_read_blocking, self.fd)
        got: deque[bytes] = deque()
        ready: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""  # EIO: the terminal hung up; treat as end of input
            got.append(data)
            loop.remove_reader(self.fd)
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, on_readable)
        try:
            await ready
        except asyncio.CancelledError:
            loop.remove_reader(self.fd)
            # Bytes read just before the cancellation are kept for the next read.
            for data in got:
                if data:
                    self._text += self._decoder.decode(data)
                else:
                    self._eof = True
            raise
        finally:
            loop.remove_reader(self.fd)
        return got[0]

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.fd)


def _read_blocking(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


class ScriptedLines:
    """A fixed sequence of lines (None or the end of the list: end of input), for tests."""

    def __init__(self, lines: Iterable[str | None]) -> None:
        self._lines: deque[str | None] = deque(lines)
        self.read = 0

    async def readline(self) -> str | None:
        await asyncio.sleep(0)
        if not self._lines:
            return None
        self.read += 1
        return self._lines.popleft()

    def close(self) -> None:
        pass


def editor_command(environ: dict[str, str] | None = None) -> list[str]:
    """``$VISUAL`` or ``$EDITOR`` (split like a shell would), else the first of nano/vi found."""
    env = os.environ if environ is None else environ
    for var in ("VISUAL", "EDITOR"):
        value = env.get(var, "").strip()
        if value:
            return shlex.split(value)
    for fallback in ("nano", "vi"):
        if shutil.which(fallback):
            return [fallback]
    raise UsageError("no editor: set $EDITOR (for example EDITOR=nano)")


async def run_editor(text: str, *, command: list[str] | None = None, suffix: str = ".md") -> str:
    """Open ``text`` in the editor on the terminal; return what was saved (trailing newline dropped)."""
    argv = command or editor_command()
    with tempfile.TemporaryDirectory(prefix="hch-edit-") as folder:
        path = Path(folder) / f"hch{suffix}"
        await asyncio.to_thread(path.write_text, text + ("\n" if text else ""), "utf-8")
        try:
            process = await asyncio.create_subprocess_exec(*argv, str(path))
        except OSError as exc:
            raise UsageError(f"cannot start the editor {argv[0]!r}: {exc.strerror or exc}") from None
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            if process.returncode is None:
                process.terminate()
            raise
        if code != 0:
            raise EditorFailed(f"the editor {argv[0]!r} exited with status {code}: nothing was changed")
        saved = await asyncio.to_thread(path.read_text, "utf-8")
    return saved.rstrip("\n")


class EditorFailed(Exception):
    """The editor exited with an error: the edit is dropped (the person is told and re-prompted)."""
