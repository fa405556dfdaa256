"""Where hch keeps its files: ``$HCH_HOME`` (default ``~/.hch``)."""

from __future__ import annotations

import os
from pathlib import Path


def hch_home() -> Path:
    """The data directory; read at call time so tests can point it elsewhere."""
    return Path(os.environ.get("HCH_HOME") or Path.home() / ".hch")


def transcripts_dir() -> Path:
    return hch_home() / "transcripts"


def cache_dir() -> Path:
    return hch_home() / "cache"
