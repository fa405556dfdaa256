"""Replay and resume run a recorded run again by one path (hch.app.replay), and resume's options are checked once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commands.common import flag
from hch.app import replay as rerun
from hch.app.options import check_resume_options
from hch.app.replay import spec_of
from hch.errors import UsageError
from tests.audit_helpers import task_run, task_spec
from transcripts.reader import read_transcript


@pytest.fixture
async def recorded(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "run.jsonl", task_spec(task="permutation", seed=2, depth=4, size=32))


async def test_replay_and_resume_rebuild_and_run_by_the_same_functions(
    recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spies, not fakes: each records what it was asked for and then does the real work.
    seen: list[tuple[str, str]] = []
    reopen, run_again = rerun.reopen, rerun._run_again

    def spy_reopen(original: Any, action: rerun.Action, **overrides: Any) -> Any:
        seen.append(("reopen", action))
        return reopen(original, action, **overrides)

    async def spy_run_again(original: Any, model: Any, action: rerun.Action, prepared: Any, **kw: Any) -> Any:
        seen.append(("run", action))
        return await run_again(original, model, action, prepared, **kw)

    monkeypatch.setattr(rerun, "reopen", spy_reopen)
    monkeypatch.setattr(rerun, "_run_again", spy_run_again)

    original = read_transcript(recorded)
    report = await rerun.replay(original, transcript=tmp_path / "replayed.jsonl")
    resumed = await rerun.resume(original, transcript=tmp_path / "resumed.jsonl")
    assert seen == [("reopen", "replay"), ("run", "replay"), ("reopen", "resume"), ("run", "resume")]

    assert report.identical and report.network_requests == 0
    replayed, continued = read_transcript(tmp_path / "replayed.jsonl"), read_transcript(tmp_path / "resumed.jsonl")
    # Both rebuild the recorded spec, and their headers say what they were built from, in the same form.
    assert spec_of(replayed) == spec_of(continued) == spec_of(original)
    lineage = {k: v for k, v in continued.header.settings["resumed_from"].items() if k != "at"}
    assert replayed.header.settings["replay_of"] == lineage
    assert lineage["run_id"] == original.header.run_id and lineage["verified"] is True
    # A resume of a finished run takes every call from the file.
    assert resumed.reused_calls == resumed.result.calls > 0


async def test_reopen_builds_a_replay_offline_and_a_resume_live(recorded: Path) -> None:
    original = read_transcript(recorded)
    async with rerun.reopen(original, "replay") as offline:
        assert offline.guard is not None and offline.spec == spec_of(original)
    async with rerun.reopen(original, "resume") as live:
        assert live.guard is None and live.spec == spec_of(original)
        assert live.model.level == offline.model.level == 4


async def test_resume_options_repeat_the_recorded_run_or_only_change_how_calls_are_made(recorded: Path) -> None:
    spec = spec_of(read_transcript(recorded))
    same = {"depth": 4, "task": "permutation", "seed": 2, "size": 32, "structured_output": "auto"}
    overrides = check_resume_options(spec, {**same, "concurrency": 3, "cache": False, "timeout_s": 5.0}, recorded)
    assert overrides == {"concurrency": 3, "cache": False, "timeout_s": 5.0}
    with pytest.raises(UsageError) as caught:
        check_resume_options(spec, {"depth": 2}, recorded)
    assert str(caught.value).startswith("depth 2 conflicts with resume ") and "--" not in str(caught.value)
    with pytest.raises(UsageError, match=r"^--facts cannot be combined with --resume: "):
        check_resume_options(spec, {"facts": Path("f.json")}, recorded, label=flag)
