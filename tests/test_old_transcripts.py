"""Transcripts written by earlier versions still load and replay.

``fixtures/llm-run-dict-settings.jsonl`` is an LLM run (depth 2, 17 nodes, 22
calls against the fault server's BranchingPolicy) written before RunSpec carried
typed model settings: its header's ``settings.spec.llm`` is the plain dict of
that time. It must keep loading, and replaying identically, offline.
"""

from __future__ import annotations

import json
from pathlib import Path

from hch.app.replay import spec_of
from hch.llm.settings import LLMSettings
from tests.audit_helpers import hch
from transcripts.reader import read_transcript

FIXTURE = Path(__file__).parent / "fixtures" / "llm-run-dict-settings.jsonl"


def test_the_dict_settings_of_an_old_header_load_as_typed_settings() -> None:
    transcript = read_transcript(FIXTURE)
    spec = spec_of(transcript)
    assert isinstance(spec.llm, LLMSettings)
    assert (spec.llm.model, spec.llm.cache, spec.llm.max_attempts) == ("fault-model", False, 1)
    # Written back, the spec holds what the old header holds: the format did not change
    # (fields added since, with their defaults, come on top).
    recorded = transcript.header.settings["spec"]
    dumped = spec.model_dump(mode="json")
    assert {name: dumped[name] for name in recorded} == recorded


def test_an_old_llm_run_replays_identically_offline(tmp_path: Path, hch_home: Path) -> None:
    out = tmp_path / "replay.jsonl"
    proc = hch("replay", str(FIXTURE), "--transcript", str(out), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identical"] is True and report["network_requests"] == 0 and report["nodes"] == 17
    assert read_transcript(out).header.settings["spec"] == read_transcript(FIXTURE).header.settings["spec"]
