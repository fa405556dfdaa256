"""The collector's tuning for runs and for commands that end with their run (hch.collector)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hch import collector


@pytest.fixture
def restored() -> Iterator[None]:
    threshold, enabled, depth = gc.get_threshold(), gc.isenabled(), collector._State.depth
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()
    collector._State.depth = depth


def test_a_run_tunes_the_collector_and_its_end_restores_it(restored: None) -> None:
    before = gc.get_threshold()
    with collector.collector_tuned():
        assert gc.get_threshold()[0] == max(before[0], collector.RUN_THRESHOLD0)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_off_until_exit_is_not_undone_by_the_runs_inside(restored: None) -> None:
    collector.off_until_exit()
    frozen = gc.get_freeze_count()
    assert not gc.isenabled() and frozen > 0
    with collector.collector_tuned():
        pass
    collector.enter_run()
    collector.leave_run()
    assert not gc.isenabled()
    assert gc.get_freeze_count() >= frozen  # nothing was unfrozen


def test_what_is_left_to_exit_is_never_freed(restored: None) -> None:
    class Report:
        pass

    report = Report()
    alive = weakref.ref(report)
    collector.leave_to_exit(report)
    del report
    gc.collect()
    assert alive() is not None
    gc.unfreeze()  # (the test process goes on: let the collector have it back)
    gc.collect()
    assert alive() is None
