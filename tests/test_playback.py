"""Playback of recorded calls: matching by node and request, order, fallback, strictness."""

from __future__ import annotations

import pytest

from hch.playback import Divergence, Playback
from transcripts.events import ModelCall, OracleCall


def oracle(node_id: str, request: str, answer: str) -> OracleCall:
    return OracleCall(node_id=node_id, request_hash=request, question=request, answer=answer)


def test_records_come_back_in_order_per_node_and_request() -> None:
    playback = Playback.from_events([oracle("0", "h", "first"), oracle("0", "h", "second")], strict=True)
    answers = [playback.take("0", "oracle_call", "h"), playback.take("0", "oracle_call", "h")]
    assert [a.answer for a in answers if isinstance(a, OracleCall)] == ["first", "second"]
    with pytest.raises(Divergence, match="divergence at node 0: oracle_call request h was not recorded"):
        playback.take("0", "oracle_call", "h")


def test_a_request_from_another_node_takes_an_unused_identical_record() -> None:
    # Shared subtrees can be worked by a different node than in the recorded run.
    playback = Playback.from_events([oracle("0.1", "h", "x"), oracle("0.2", "other", "y")], strict=True)
    record = playback.take("0.0", "oracle_call", "h")
    assert isinstance(record, OracleCall) and record.answer == "x"
    with pytest.raises(Divergence):
        playback.take("0.1", "oracle_call", "h")  # already used


def test_strict_miss_names_a_changed_request_and_resume_miss_runs_live() -> None:
    events = [oracle("0", "old", "x")]
    with pytest.raises(Divergence, match=r"node 0: oracle_call .* other oracle_call request\(s\): the request changed"):
        Playback.from_events(events, strict=True).take("0", "oracle_call", "new")
    assert Playback.from_events(events, strict=False).take("0", "oracle_call", "new") is None


def test_failed_model_calls_are_not_played_back() -> None:
    failed = ModelCall(node_id="0", purpose="answer", request={}, request_hash="h", response=None, error="500")
    assert Playback.from_events([failed], strict=False).take("0", "model_call", "h") is None
