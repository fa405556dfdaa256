"""``hch cache``: the model-call cache under $HCH_HOME/cache."""

from __future__ import annotations

import json
from typing import Any

import typer

from commands.common import APP, JsonOpt, err, out, run_async

cache_app = typer.Typer(
    name="cache",
    help="The model-call cache under $HCH_HOME/cache: where it is, what it holds, and emptying it.",
    no_args_is_help=True,
    **APP,
)


@cache_app.command("path")
def cache_path() -> None:
    """Print the cache directory."""
    from hch.llm.cache import CallCache

    print(CallCache().path)


@cache_app.command("stats")
def cache_stats(as_json: JsonOpt = False) -> None:
    """Entries in the cache and its size on disk."""
    from hch.llm.cache import CallCache

    async def go() -> Any:
        cache = CallCache()
        try:
            return await cache.stats()
        finally:
            await cache.aclose()

    stats = run_async(go)
    if as_json:
        print(json.dumps({"path": str(stats.path), "entries": stats.entries, "size_bytes": stats.size_bytes}))
        return
    out.print(f"{stats.path}: {stats.entries} entries, {stats.size_bytes / 1e6:.1f} MB", markup=False, soft_wrap=True)


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every entry (later runs call the model again)."""
    from hch.llm.cache import CallCache

    async def go() -> tuple[int, list[str]]:
        cache = CallCache()
        try:
            return await cache.clear(), cache.refused
        finally:
            await cache.aclose()

    removed, refused = run_async(go)
    path = CallCache().path
    out.print(f"removed {removed} entries from {path}", markup=False, soft_wrap=True)
    if refused:
        names = ", ".join(repr(name) for name in refused)
        err.print(
            f"warning: {len(refused)} cache rows named files outside the cache; left alone: {names}",
            markup=False,
            soft_wrap=True,
        )
