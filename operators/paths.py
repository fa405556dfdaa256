"""Where datasets live, and keeping every path read from one inside its folder."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

from hch.errors import UsageError
from hch.paths import hch_home

MANIFEST = "manifest.json"
EXAMPLES = "examples.jsonl"
TRANSCRIPTS = "transcripts"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class DatasetError(UsageError):
    """A dataset that cannot be used as it is; the message names the file (and line)."""


def datasets_dir() -> Path:
    """Where named datasets live: ``$HCH_HOME/datasets``."""
    return hch_home() / "datasets"


def check_name(name: str) -> str:
    """``name`` if it can name a dataset folder (letters, digits, ``.``, ``_``, ``-``; no path)."""
    if not _NAME.fullmatch(name) or name in {".", ".."} or ".." in name:
        raise DatasetError(
            f"dataset name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, no '..', no slashes)"
        )
    return name


def dataset_dir(name: str) -> Path:
    """The folder of the dataset called ``name``."""
    return datasets_dir() / check_name(name)


def locate(name_or_path: str) -> Path:
    """A dataset folder from a name under ``$HCH_HOME/datasets``, or a path to a folder holding a manifest."""
    path = Path(name_or_path)
    if (path / MANIFEST).is_file():
        return path
    if _NAME.fullmatch(name_or_path) and (datasets_dir() / name_or_path / MANIFEST).is_file():
        return datasets_dir() / name_or_path
    raise DatasetError(f"{name_or_path}: no such dataset (neither a name under {datasets_dir()} nor a dataset folder)")


def confined(root: Path, relative: str, where: str) -> Path:
    """``root / relative``, refusing anything that could point outside ``root``.

    Absolute paths, ``..`` parts, backslashes and drive letters are refused as
    written; a symlink that leads outside is refused once resolved.
    """
    pure = PurePosixPath(relative)
    if (
        not relative
        or pure.is_absolute()
        or "\\" in relative
        or ":" in relative
        or any(part in {"..", ""} for part in relative.split("/"))
    ):
        raise DatasetError(f"{where}: path {relative!r} must be relative to the dataset folder, without '..'")
    path = root.joinpath(*pure.parts)
    resolved_root = root.resolve()
    if not path.resolve().is_relative_to(resolved_root):
        raise DatasetError(f"{where}: path {relative!r} leads outside the dataset folder")
    return path


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
