"""A persistent cache of successful model calls, keyed by request hash.

Two facts about diskcache shape this module:

- Its defaults evict silently (1 GB, least recently stored) and pickle any
  value that is not a str/bytes/number. A cache that replays depend on must not
  lose entries behind the user's back, and a cache directory is not a place
  from which to unpickle (anyone who can write there could run code). So the
  cache is opened with ``eviction_policy="none"`` and a :class:`JSONTextDisk`
  that stores every value as JSON text and refuses to read a pickled row.
- It does SQLite I/O synchronously. Every operation here runs in a worker
  thread (``asyncio.to_thread``) so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# diskcache ships no type information.
import diskcache  # type: ignore[import-untyped]

from hch.paths import cache_dir


class UnsafeCacheEntry(Exception):
    """A cache row that is not JSON text (for example, pickled by another program)."""


class JSONTextDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache is untyped
    """A diskcache Disk that stores values as JSON text and never unpickles.

    Keys must be str (stored as is). Values are serialised with ``json.dumps``
    and kept as text, inline in SQLite when small and in a ``.val`` text file
    otherwise; both are readable with any SQLite or text tool.
    """

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
        result: tuple[int, int, str | None, Any] = super().store(text, False, key=key)
        return result

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_TEXT) or read:
            raise UnsafeCacheEntry(f"cache row has storage mode {mode}, not JSON text: refusing to read it")
        text = super().fetch(mode, filename, value, False)
        if not isinstance(text, str):
            raise UnsafeCacheEntry("cache row is not text")
        return json.loads(text)


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
            return self._cache

    async def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key``, or None."""
        value = await asyncio.to_thread(self._get, key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def _get(self, key: str) -> dict[str, Any] | None:
        value = self._db().get(key, default=None)
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-able dict) under ``key``, replacing any entry."""
        await asyncio.to_thread(self._set, key, value)

    def _set(self, key: str, value: dict[str, Any]) -> None:
        self._db().set(key, value)

    async def stats(self) -> CacheStats:
        """Entries, size on disk, and this process's hits and misses."""
        entries, size = await asyncio.to_thread(self._stats)
        return CacheStats(path=self._path, entries=entries, size_bytes=size, hits=self.hits, misses=self.misses)

    def _stats(self) -> tuple[int, int]:
        if not self._path.exists():
            return 0, 0
        entries = len(self._db())
        # diskcache's volume() counts pages and value files but not the WAL, so sum the files.
        size = sum(p.stat().st_size for p in self._path.rglob("*") if p.is_file())
        return entries, size

    async def clear(self) -> int:
        """Remove every entry; return how many there were."""
        return await asyncio.to_thread(self._clear)

    def _clear(self) -> int:
        if not self._path.exists():
            return 0
        removed: int = self._db().clear()
        return removed

    def close(self) -> None:
        """Close the database (it reopens on next use)."""
        with self._open_lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None

    async def aclose(self) -> None:
        """:meth:`close` off the event loop."""
        await asyncio.to_thread(self.close)
