"""The model-call cache never touches a file outside its own directory.

A diskcache row may name a value file. Whoever can write the cache directory can
point a row at any file (absolute, or climbing out with ``..``); these tests
plant such rows with plain SQLite and check that a hit does not read the file,
and that replacing the row (a miss, then a store) or ``hch cache clear`` does not
delete it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import diskcache  # type: ignore[import-untyped]
import pytest

from hch.llm import CallCache
from hch.llm.cache import UnsafeCacheEntry

ROOT = Path(__file__).resolve().parents[1]
VICTIM_TEXT = json.dumps({"response": "read from outside the cache", "request": {}, "usage": {}})


def plant(cache_dir: Path, key: str, filename: str) -> None:
    """Point the row of ``key`` at ``filename``, as someone with write access to the cache could."""
    with sqlite3.connect(cache_dir / "cache.db") as db:
        db.execute(
            "UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key = ?",
            (diskcache.core.MODE_TEXT, filename, key),
        )


def victim(tmp_path: Path) -> Path:
    folder = tmp_path / "user-files" / "notes"
    folder.mkdir(parents=True)
    path = folder / "precious.json"
    path.write_text(VICTIM_TEXT)
    return path


async def filled_cache(tmp_path: Path) -> tuple[CallCache, Path]:
    cache_dir = tmp_path / "hch-home" / "cache"
    cache = CallCache(cache_dir)
    await cache.set("k", {"response": "inline"})
    await cache.set("other", {"response": "b"})
    return cache, cache_dir


@pytest.mark.parametrize("form", ["absolute", "dotdot"])
async def test_a_row_naming_a_file_outside_is_neither_read_nor_deleted(tmp_path: Path, form: str) -> None:
    cache, cache_dir = await filled_cache(tmp_path)
    target = victim(tmp_path)
    name = str(target) if form == "absolute" else "../../user-files/notes/precious.json"
    plant(cache_dir, "k", name)

    # A hit refuses the row, naming it, instead of returning the outside file's contents.
    with pytest.raises(UnsafeCacheEntry, match="outside the cache"):
        await cache.get("k")
    # A miss that stores a fresh value replaces the row; diskcache would delete the old row's file.
    await cache.set("k", {"response": "fresh"})
    assert await cache.get("k") == {"response": "fresh"}
    assert target.read_text() == VICTIM_TEXT
    assert target.parent.is_dir()  # nor are "empty" parent folders removed

    # The same row planted again, then cleared.
    plant(cache_dir, "k", name)
    assert await cache.clear() == 2
    assert target.read_text() == VICTIM_TEXT
    assert cache.refused == [name, name]  # both refusals are reported, not silently skipped
    await cache.aclose()


def test_cache_clear_command_refuses_and_reports(tmp_path: Path, hch_home: Path) -> None:
    import asyncio

    async def fill() -> None:
        cache = CallCache(hch_home / "cache")
        await cache.set("k", {"response": "a"})
        await cache.aclose()

    asyncio.run(fill())
    target = victim(tmp_path)
    plant(hch_home / "cache", "k", str(target))
    env = {**os.environ, "HCH_HOME": str(hch_home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "cache", "clear"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 entries" in proc.stdout
    assert target.read_text() == VICTIM_TEXT
    warning = proc.stderr.strip().splitlines()
    assert len(warning) == 1 and "outside the cache" in warning[0] and str(target) in warning[0]


async def test_every_value_is_stored_inline(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c")
    big = {"response": "x" * 200_000}  # far above diskcache's 32 KB threshold for value files
    await cache.set("big", big)
    assert await cache.get("big") == big
    await cache.aclose()
    with sqlite3.connect(tmp_path / "c" / "cache.db") as db:
        rows = db.execute("SELECT mode, filename FROM Cache").fetchall()
    assert rows == [(diskcache.core.MODE_RAW, None)]
    assert not [p for p in (tmp_path / "c").rglob("*.val")]


async def test_a_value_file_inside_the_cache_written_by_an_older_version_is_still_read(tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    cache = CallCache(cache_dir)
    await cache.set("k", {"response": "placeholder"})
    (cache_dir / "ab" / "cd").mkdir(parents=True)
    (cache_dir / "ab" / "cd" / "old.val").write_text(json.dumps({"response": "old"}))
    plant(cache_dir, "k", "ab/cd/old.val")
    assert await cache.get("k") == {"response": "old"}
    assert await cache.clear() == 1
    assert not (cache_dir / "ab").exists()  # its file and emptied folders go, the cache folder stays
    assert (cache_dir / "cache.db").exists()
    assert cache.refused == []
    await cache.aclose()
