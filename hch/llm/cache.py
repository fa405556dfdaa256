"""A persistent cache of successful model calls, keyed by request hash.

Two facts about diskcache shape this module:

- Its defaults evict silently (1 GB, least recently stored) and pickle any
  value that is not a str/bytes/number. A cache that replays depend on must not
  lose entries behind the user's back, and a cache directory is not a place
  from which to unpickle (anyone who can write there could run code). So the
  cache is opened with ``eviction_policy="none"`` and a :class:`JSONTextDisk`
  that stores every value as JSON text and refuses to read a pickled row.
- A row may name a value file, and diskcache reads, deletes (with its emptied
  parent folders) whatever file a row names, absolute or climbing out with
  ``..``. Anyone who can write the cache directory could then make the next run
  or ``hch cache clear`` read or delete the user's files. So every value is
  stored inline in SQLite (no row this module writes names a file), and a row
  that names a file outside the cache directory is refused and reported, never
  opened or removed.
- It does SQLite I/O synchronously. Every operation here runs in a worker
  thread (``asyncio.to_thread``) so the event loop never waits on the disk.
  That thread hop and a SQLite read per hit held a warm rerun to about 2,000
  calls/s, so :meth:`CallCache.response` serves hits from an in-memory index
  of response texts, loaded by a worker thread when the model client is built
  (:meth:`CallCache.start_loading`) or on first use; the lookups made meanwhile
  wait for it (a few milliseconds for a thousand entries; serving them from
  the disk instead kept the event loop busy with thread hops and cost a warm
  rerun a tenth of its time), unless the cache is so large that its index
  takes longer than a tenth of a second to load: then the disk answers them.
  The index is keyed by the same request hash as the disk, so it serves
  exactly what the disk held when the run began, plus the run's own results. A key it lacks is a miss without
  asking the disk: those lookups, racing the writes of a cold run, made it 1.2x
  slower than no cache. An entry another process stores meanwhile is found by
  the next run. A cache too large to index (or whose index cannot be read) is
  served from the disk.
- A write is a SQLite transaction. Made per call in a worker thread, writes held
  a cold run (every call a miss, every result stored) to 1.2x the time of the
  same run without a cache, so :meth:`CallCache.put` writes behind: it returns
  at once, and one writer thread stores what has been put, gathering entries for
  a tenth of a second into one transaction (unless someone waits for the disk).
  Until an entry is on disk the process still finds it (it is kept in memory),
  and :meth:`CallCache.close` writes everything put before it returns. The
  writer is not a daemon thread, so even a process that never closes its cache
  (an error, Ctrl-C) writes the entries before it exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# diskcache ships no type information.
import diskcache  # type: ignore[import-untyped]
import orjson

from hch.paths import cache_dir

log = logging.getLogger("hch.llm")

MEMORY_INDEX_LIMIT = 200_000
"""A cache with more entries than this is not loaded into memory (hits come from disk)."""

WAIT_FOR_INDEX_LIMIT = 20_000
"""Lookups wait for the index of a cache with at most this many entries (a tenth of a second
to load, about 10 us an entry); a larger cache answers them from the disk until it is loaded."""

WRITER_IDLE_S = 0.5
"""How long the writer thread waits for more entries before it ends (the next put starts another)."""

WRITER_GATHER_S = 0.1
"""How long the writer gathers entries into one transaction, unless someone waits for the disk.

A commit costs the writer about 0.7 ms of CPU. Woken by every entry, it committed a
cold run's 485 results in 126 transactions, and that CPU, taken from the event loop and
the server, made the run 10% slower than one without a cache."""


class UnsafeCacheEntry(Exception):
    """A cache row that is not JSON text (for example, pickled by another program),
    or that names a value file outside the cache directory."""


class JSONTextDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache is untyped
    """A diskcache Disk that stores values as JSON text, inline, and never unpickles.

    Keys must be str (stored as is). Values are serialised with ``json.dumps``
    and kept as text in SQLite, whatever their size, readable with any SQLite
    tool. Rows written by older versions may name a ``.val`` text file inside
    the cache directory; those are still read and removed. A row naming any
    other file is refused: reading raises :class:`UnsafeCacheEntry`, removing
    leaves the file alone and adds the name to :attr:`refused`.
    """

    def __init__(self, directory: str, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self._root = Path(directory).resolve()
        self.refused: list[str] = []
        """Value-file names of rows that pointed outside the cache directory, in the order refused."""

    def _confined(self, filename: str) -> Path | None:
        """The path a row's ``filename`` names, or None when it leads outside the cache directory."""
        lexical = Path(os.path.normpath(self._root / filename))  # an absolute filename replaces the root
        if lexical == self._root or not lexical.is_relative_to(self._root):
            return None
        if not lexical.resolve().is_relative_to(self._root):  # a symlink inside pointing out
            return None
        return lexical

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"cache keys must be str, got {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise UnsafeCacheEntry("refusing to unpickle a cache key")
        return key

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> tuple[int, int, str | None, Any]:
        if read:
            raise TypeError("file-like cache values are not supported")
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
        return 0, diskcache.core.MODE_RAW, None, text

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if read:
            raise UnsafeCacheEntry(f"cache row has storage mode {mode}, not JSON text: refusing to read it")
        return json.loads(self._text(mode, filename, value))

    def fetch_response(self, mode: int, filename: str | None, value: Any) -> str | None:
        """The response text a row stores (None when it has none), read as :meth:`fetch` reads the row.

        Parsed by orjson, five times faster than ``json`` on these rows (loading the index is
        most of what a warm rerun waits for). A text comes out of both parsers the same, and
        what orjson reads differently from ``json`` it refuses (lone surrogates, NaN, numbers
        out of range) or changes elsewhere in the row (integers beyond 64 bits become floats),
        never in a text: a refused row is read by ``json``.
        """
        text = self._text(mode, filename, value)
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = json.loads(text)
        response = parsed.get("response") if type(parsed) is dict else None
        return response if type(response) is str else None

    def _text(self, mode: int, filename: str | None, value: Any) -> str:
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_TEXT):
            raise UnsafeCacheEntry(f"cache row has storage mode {mode}, not JSON text: refusing to read it")
        if filename is not None:
            path = self._confined(filename)
            if path is None:
                raise UnsafeCacheEntry(f"cache row names a file outside the cache, {filename!r}: refusing to read it")
            text = path.read_text(encoding="utf-8")
        else:
            text = value
        if not isinstance(text, str):
            raise UnsafeCacheEntry("cache row is not text")
        return text

    def remove(self, file_path: str) -> None:
        path = self._confined(file_path)
        if path is None:
            self.refused.append(file_path)
            return
        # As diskcache does: another process may be removing the same file.
        try:
            path.unlink()
        except OSError:
            return
        # Folders emptied by the removal go too, up to but never including the cache directory.
        parent = path.parent
        while parent != self._root and parent.is_relative_to(self._root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds, and how it served this process."""

    path: Path
    entries: int
    size_bytes: int
    """Size of the cache directory on disk (database and value files)."""
    hits: int
    misses: int


class CallCache:
    """Successful model-call results on disk, keyed by request hash.

    Values are JSON objects (the client stores response text, usage and the
    request). Nothing is opened until first use, so building one is free and
    touches no disk.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._path = Path(directory) if directory is not None else cache_dir()
        self._cache: Any = None
        self._open_lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.refused: list[str] = []
        """Value files named by rows that pointed outside the cache: neither read nor removed."""
        self._memory: dict[str, str] | None = None
        """Response text by key, once the loader has read the cache; None until then."""
        self._written: dict[str, str] = {}
        """Responses stored by this process while the loader runs (merged into the index)."""
        self._memory_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._loaded: concurrent.futures.Future[None] | None = None
        """Done when the loader has finished (with an index or without)."""
        self._sized: concurrent.futures.Future[bool] = concurrent.futures.Future()
        """Whether lookups wait for the index (see WAIT_FOR_INDEX_LIMIT): set once the loader has counted."""
        self._pending: dict[str, dict[str, Any]] = {}
        """Entries put but not yet on disk, by key: what this process must still find."""
        self._queue: list[tuple[str, dict[str, Any]]] = []
        """Entries put and not yet taken by the writer, in the order put."""
        self._writing = False
        """Whether the writer is storing a batch (taken from the queue, not yet committed)."""
        self._writes = threading.Condition()
        """Guards the queue, the pending entries and the writer's state; notified when a batch is on disk."""
        self._writer: threading.Thread | None = None
        self._closing = False
        """Set by close(): the writer ends as soon as the queue is empty, without idling."""
        self._flushing = 0
        """Callers of flush() waiting for the disk: the writer then stores what it has at once."""

    @property
    def path(self) -> Path:
        """The cache directory."""
        return self._path

    def _db(self) -> Any:
        # Opened lazily, in a worker thread, because creating the SQLite file is I/O.
        with self._open_lock:
            if self._cache is None:
                # Private: cached prompts and answers may be as sensitive as the run itself.
                self._path.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._cache = diskcache.Cache(str(self._path), eviction_policy="none", disk=JSONTextDisk)
                self._cache.disk.refused = self.refused
            return self._cache

    async def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key`` (or put and not yet written), or None."""
        value = self._pending.get(key)
        if value is None:
            value = await asyncio.to_thread(self._get, key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value

    async def response(self, key: str) -> str | None:
        """The response text stored under ``key``, or None: from memory once the index is loaded.

        The first lookup starts loading the index (unless :meth:`start_loading` did),
        and every lookup waits until it is loaded (see :meth:`_index`); a key it lacks is
        then a miss (the index holds the disk as it was when loaded and everything put
        since). Without an index (a cache too large, or unreadable, or still loading a
        large one) the entries put by this process and then the disk answer.
        Disk errors propagate as from :meth:`get`.
        """
        memory = self._memory
        if memory is None:
            memory = await self._index()
        if memory is not None:
            text = memory.get(key)
            if text is not None:
                self.hits += 1
                return text
            if key not in self._pending:
                self.misses += 1
                return None
        entry = await self.get(key)
        text = entry.get("response") if entry is not None else None
        return text if isinstance(text, str) else None

    def start_loading(self) -> None:
        """Start loading the in-memory index in a worker thread, unless it is loaded or loading; do not wait.

        A model client calls this when it is built, so that the index loads while
        the run sets up; otherwise the first lookup starts it.
        """
        self._start_loading()

    async def _index(self) -> dict[str, str] | None:
        """The in-memory index (the first call starts loading it), or None when there is none (yet).

        A lookup waits for the index of a cache of at most :data:`WAIT_FOR_INDEX_LIMIT`
        entries; a larger cache gives None until its index is loaded (the disk answers).
        """
        loaded = self._loaded
        if loaded is None:
            loaded = self._start_loading()
        if not loaded.done():
            sized = self._sized
            if not sized.done():
                await asyncio.wrap_future(sized)
            if sized.result() and not loaded.done():
                await asyncio.wrap_future(loaded)
        return self._memory

    def _start_loading(self) -> concurrent.futures.Future[None]:
        with self._memory_lock:
            if self._loaded is None:
                self._loaded = concurrent.futures.Future()
                self._sized = concurrent.futures.Future()
                # A plain daemon thread, not the loop's executor: only lookups and close() wait
                # for it, and asyncio.run's exit, which waits for the executor, does not.
                args = (self._sized, self._loaded)
                self._loader = threading.Thread(target=self._load, args=args, name="hch-cache-index")
                self._loader.daemon = True
                self._loader.start()
            return self._loaded

    def _load(self, sized: concurrent.futures.Future[bool], loaded: concurrent.futures.Future[None]) -> None:
        try:
            index = self._read_index(sized)
            with self._memory_lock:
                if index is not None:
                    index.update(self._written)
                    self._written = {}
                    self._memory = index
        finally:
            if not sized.done():
                sized.set_result(False)
            loaded.set_result(None)

    def _read_index(self, sized: concurrent.futures.Future[bool]) -> dict[str, str] | None:
        """Every response text on disk by key, or None for a cache too large or unreadable.

        ``sized`` is told, once the entries are counted, whether lookups should wait for the index.
        """
        index: dict[str, str] = {}
        try:
            db = self._db()
            entries = len(db)
            sized.set_result(entries <= WAIT_FOR_INDEX_LIMIT)
            if entries > MEMORY_INDEX_LIMIT:
                return None
            # One query for all rows, not a lookup per key (which took ten times as long).
            # diskcache has no public bulk read; its table is what tests/test_llm_client.py reads.
            # Each value is still read by JSONTextDisk.fetch_response, which refuses anything but JSON text.
            rows = db._sql("SELECT key, raw, mode, filename, value FROM Cache WHERE expire_time IS NULL")
            for key, raw, mode, filename, stored in rows.fetchall():
                if not raw or type(key) is not str:
                    continue  # not a key this module wrote
                try:
                    text = db.disk.fetch_response(mode, filename, stored)
                except Exception as exc:  # a damaged row is a miss
                    log.warning("model-call cache %s: unreadable entry %s (%s): a miss", self._path, key, exc)
                    continue
                if text is not None:
                    index[key] = text
        except Exception as exc:  # the index is an optimisation: the disk still answers
            log.warning("model-call cache %s: not indexed in memory (%s)", self._path, exc)
            return None
        return index

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        text = value.get("response")
        if not isinstance(text, str):
            return
        with self._memory_lock:
            if self._memory is not None:
                self._memory[key] = text
            else:
                self._written[key] = text

    def _get(self, key: str) -> dict[str, Any] | None:
        value = self._db().get(key, default=None)
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-able dict) under ``key``, replacing any entry, without waiting.

        The entry is found by this process at once (:meth:`get`, :meth:`response`)
        and written to disk by the writer thread soon after; :meth:`flush` and
        :meth:`close` wait for it. The caller must not change ``value`` afterwards.
        A value the disk refuses is logged and dropped (the cache is an
        optimisation: the call's result is in the transcript).
        """
        with self._writes:
            self._pending[key] = value
            self._queue.append((key, value))
            if self._writer is None:
                # Not a daemon: an interpreter exiting without close() still waits for the writes.
                self._writer = threading.Thread(target=self._write_behind, name="hch-cache-writer")
                self._writer.start()
            elif len(self._queue) == 1:  # an idle writer waits for the first entry; a gathering one for none
                self._writes.notify_all()
        self._remember(key, value)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` and wait until it is on disk (see :meth:`put`)."""
        self.put(key, value)
        await asyncio.to_thread(self.flush)

    def flush(self) -> None:
        """Wait until every entry put so far is on disk (or refused and logged). Blocking."""
        with self._writes:
            self._flushing += 1
            self._writes.notify_all()  # a gathering writer stores at once
            try:
                while self._queue or self._writing:
                    self._writes.wait()
            finally:
                self._flushing -= 1

    def _write_behind(self) -> None:
        while True:
            with self._writes:
                if not self._queue and not self._closing:
                    self._writes.wait(WRITER_IDLE_S)
                if not self._queue:
                    self._writer = None  # checked under the lock by put(), which starts another
                    return
                gathered = time.monotonic() + WRITER_GATHER_S
                while not self._closing and not self._flushing:
                    left = gathered - time.monotonic()
                    if left <= 0:
                        break
                    self._writes.wait(left)
                batch, self._queue = self._queue, []
                self._writing = True
            try:
                self._store(batch)
            finally:
                with self._writes:
                    for key, value in batch:
                        if self._pending.get(key) is value:  # not put again since
                            del self._pending[key]
                    self._writing = False
                    self._writes.notify_all()

    def _store(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Write ``batch`` in one transaction; if that fails, entry by entry, logging each failure."""
        try:
            db = self._db()
            with db.transact():
                for key, value in batch:
                    self._set(key, value)
            return
        except Exception:  # which entry failed is found and logged below
            pass
        for key, value in batch:
            try:
                self._set(key, value)
            except Exception as exc:
                log.warning("model-call cache %s: could not store %s (%s)", self._path, key, exc)

    def _set(self, key: str, value: dict[str, Any]) -> None:
        refused = len(self.refused)
        self._db().set(key, value)  # replacing a row removes the value file it named
        for name in self.refused[refused:]:
            log.warning("model-call cache %s: a row named a file outside the cache, %r: left alone", self._path, name)

    async def stats(self) -> CacheStats:
        """Entries, size on disk, and this process's hits and misses."""
        entries, size = await asyncio.to_thread(self._stats)
        return CacheStats(path=self._path, entries=entries, size_bytes=size, hits=self.hits, misses=self.misses)

    def _stats(self) -> tuple[int, int]:
        self.flush()
        if not self._path.exists():
            return 0, 0
        entries = len(self._db())
        # diskcache's volume() counts pages and value files but not the WAL, so sum the files.
        size = sum(p.stat().st_size for p in self._path.rglob("*") if p.is_file())
        return entries, size

    async def clear(self) -> int:
        """Remove every entry; return how many there were.

        Files outside the cache named by rows are left alone and listed in :attr:`refused`.
        """
        return await asyncio.to_thread(self._clear)

    def _clear(self) -> int:
        self.flush()  # so that nothing put before the clear is written after it
        self._join_loader()
        with self._memory_lock:
            self._memory = None
            self._written = {}
            self._loader = None  # the next lookup loads what is left
            self._loaded = None
        if not self._path.exists():
            return 0
        removed: int = self._db().clear()
        return removed

    def _join_loader(self) -> None:
        loader = self._loader
        if loader is not None and loader is not threading.current_thread():
            loader.join()

    def close(self) -> None:
        """Write every entry put, and close the database (it reopens on next use)."""
        with self._writes:
            self._closing = True
            self._writes.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join()  # it writes what is queued, then ends
        with self._writes:
            self._closing = False
        self.flush()  # entries put by another thread while the writer ended
        self._join_loader()
        with self._open_lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None

    async def aclose(self) -> None:
        """:meth:`close` off the event loop."""
        await asyncio.to_thread(self.close)
