"""Shared fixtures: every test gets its own HCH_HOME so nothing touches ~/.hch."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def hch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hch-home"
    monkeypatch.setenv("HCH_HOME", str(home))
    return home


SLOW_FIXTURES = frozenset({"terminals", "browser"})
"""Fixtures that drive a real tmux terminal or headless Chromium (tests/test_human_terminal.py,
tests/test_html_chromium.py): a test using one is slow wherever it lives."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end tests slow, so ``pytest -m "not slow"`` runs the rest in a minute or two.

    A test is slow when it drives tmux or Chromium (it uses one of :data:`SLOW_FIXTURES`:
    marked here, so a new such test cannot be forgotten) or the embedded model (its
    module or the test says ``pytest.mark.slow``). CI runs every test.
    """
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
