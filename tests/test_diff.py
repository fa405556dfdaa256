"""Aligning two runs node by node (transcripts.diff) on hand-made event lists."""

from __future__ import annotations

from pathlib import Path

from transcripts.diff import diff_runs, node_steps
from transcripts.events import Ask, Event, Header, ModelCall, NodeAnswer, NodeStart, RunEnd
from transcripts.reader import Transcript


def run(events: list[Event], answer: str = "A") -> Transcript:
    seqd = [e.model_copy(update={"seq": i}) for i, e in enumerate([*events, RunEnd(status="ok", answer=answer)], 1)]
    header = Header(run_id="r", created="now", hch_version="0", question="Q")
    return Transcript(path=Path("run.jsonl"), header=header, events=seqd, cut=None)


def start(node: str, question: str = "q") -> NodeStart:
    parent = None if node == "0" else node.rsplit(".", 1)[0]
    return NodeStart(node_id=node, parent_id=parent, question=question, level=1, budget=None, worker="w")


def call(node: str, request_hash: str, response: str) -> ModelCall:
    return ModelCall(node_id=node, purpose="answer", request={}, request_hash=request_hash, response=response)


def test_calls_made_concurrently_match_in_any_order_but_not_with_another_response() -> None:
    a = run([start("0"), call("0", "h1", "x"), call("0", "h2", "y"), NodeAnswer(node_id="0", answer="A", spent=2)])
    b = run([start("0"), call("0", "h2", "y"), call("0", "h1", "x"), NodeAnswer(node_id="0", answer="A", spent=2)])
    assert diff_runs(a, b).identical
    assert [s.kind for s in node_steps(b.events)["0"]] == ["start", "model_call", "model_call", "answer"]
    c = run([start("0"), call("0", "h2", "z"), call("0", "h1", "x"), NodeAnswer(node_id="0", answer="A", spent=2)])
    first = diff_runs(a, c).first
    assert first is not None and (first.node_id, first.what) == ("0", "model_call")
    assert "'y'" in first.expected and "'z'" in first.produced


def test_a_node_that_stops_early_or_goes_on_and_nodes_in_one_run_only() -> None:
    a = run(
        [start("0"), Ask(node_id="0", questions=["s"]), start("0.0", "s"), NodeAnswer(node_id="0", answer="A", spent=1)]
    )
    shorter = run([start("0"), NodeAnswer(node_id="0", answer="A", spent=1)])
    diff = diff_runs(a, shorter)
    assert not diff.identical and diff.same_final
    by_node = {d.node_id: d for d in diff.nodes}
    assert by_node["0"].what == "ask/answer" and by_node["0.0"].what == "only in A"
    assert [d.node_id for d in diff.nodes] == ["0", "0.0"]  # in the order of the first run's events
    longer = run([start("0"), NodeAnswer(node_id="0", answer="A", spent=1), start("0.1", "t")])
    diff = diff_runs(shorter, longer)
    assert [(d.node_id, d.what, d.expected) for d in diff.nodes] == [("0.1", "only in B", "(no such node)")]
    cut = run([start("0")], answer="B")
    (node,) = diff_runs(shorter, cut).nodes
    assert (node.what, node.produced) == ("answer", "(nothing more: the node stopped here)")
    assert not diff_runs(shorter, cut).same_final
