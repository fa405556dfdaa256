"""Shared fixtures: every test gets its own HCH_HOME so nothing touches ~/.hch."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hch-home"
    monkeypatch.setenv("HCH_HOME", str(home))
    return home
