"""Approval-based amplification: metrics, preference pairs, the best-of-n policy, and `hch approve` end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hch.amp import hch_tree
from hch.app.spec import ProposalSpec
from hch.executor import run_question
from hch.tasks import find_task
from operators.approval.approver import task_approval_tree
from operators.approval.measure import Rating, best_of_n, measure, preference_pairs
from operators.approval.policy import best_of_n_policy
from operators.dataset import open_dataset, verify_dataset
from operators.proposals import NoisyProposer
from tests.audit_helpers import hch
from transcripts.events import Approval, NodeStart
from transcripts.reader import read_transcript


def r(q: int, c: int, candidate: str, approval: float, correct: bool | None) -> Rating:
    return Rating(q, f"q{q}", c, candidate, approval, "confirmed", correct)


def test_best_of_n_takes_the_most_approved_and_breaks_ties_by_votes() -> None:
    assert best_of_n([r(0, 0, "a", 0.0, False), r(0, 1, "b", 1.0, True)]).candidate == "b"
    tied = [r(0, 0, "a", 0.5, False), r(0, 1, "b", 0.5, True), r(0, 2, "b", 0.5, True)]
    assert best_of_n(tied).candidate == "b"
    assert best_of_n([r(0, 0, "a", 0.5, None), r(0, 1, "b", 0.5, None)]).candidate == "a"


def test_pairs_prefer_the_more_approved_distinct_candidate() -> None:
    ratings = [r(0, 0, "7", 1.0, True), r(0, 1, "7", 1.0, True), r(0, 2, "5", 0.0, False), r(0, 3, "6", 0.5, False)]
    pairs = preference_pairs(ratings)
    assert sorted((p.chosen.candidate, p.rejected.candidate) for p in pairs) == [("6", "5"), ("7", "5"), ("7", "6")]
    assert pairs[0].trl().keys() == {"prompt", "chosen", "rejected"}


def test_metrics_and_disagreements_are_counted() -> None:
    ratings = [
        r(0, 0, "1", 1.0, True),
        r(0, 1, "2", 0.0, False),
        r(1, 0, "3", 0.8, False),  # wrong but approved: what approval would teach a policy
        r(1, 1, "4", 0.2, True),
        r(2, 0, "5", 0.5, True),
        r(2, 1, "6", 0.5, False),
    ]
    m = measure(ratings)
    assert m.mean_approval_correct == pytest.approx((1.0 + 0.2 + 0.5) / 3)
    assert m.mean_approval_wrong == pytest.approx((0.0 + 0.8 + 0.5) / 3)
    assert m.single_accuracy == 0.5
    assert m.best_of_n_accuracy == pytest.approx(2 / 3)  # q1 picks the wrong one; q2's tie goes to the first
    assert m.best_of_n_accuracy_without_votes == pytest.approx(2 / 3)
    assert m.auc == pytest.approx(5.5 / 9)
    d = m.disagreement
    assert (d["wrong_approved"], d["correct_rejected"], d["inverted_pairs"]) == (1, 1, 1)
    assert d["best_of_n_picked_wrong_over_correct"] == 1 and d["best_of_n_ties"] == 1
    assert d["examples_wrong_approved"][0]["candidate"] == "3"


def test_the_vote_only_breaks_ties_and_is_measured_apart() -> None:
    tied = [r(0, 0, "a", 0.5, False), r(0, 1, "b", 0.5, True), r(0, 2, "b", 0.5, True)]
    m = measure(tied)
    assert (m.best_of_n_accuracy, m.best_of_n_accuracy_without_votes) == (1.0, 0.0)


def test_without_the_truth_there_is_no_accuracy() -> None:
    m = measure([r(0, 0, "a", 0.7, None), r(0, 1, "b", 0.3, None)])
    assert (m.single_accuracy, m.best_of_n_accuracy, m.auc, m.pairs) == (None, None, None, 1)


async def test_the_best_of_n_policy_is_a_model_and_the_base_of_a_tree(tmp_path: Path) -> None:
    task = find_task("permutation")
    case = task.generate(random.Random(4), 32)
    facts = case.facts
    proposers = [NoisyProposer(task, facts, ProposalSpec(index=i, noise=0.6, seed=1)) for i in range(4)]
    policy = best_of_n_policy(proposers, task_approval_tree(task, facts, 6))
    right_single = right_policy = reachable = 0
    for n in range(2, 14):
        question = f"s^{n}(3)"
        truth = task.solve(facts, question)
        result = await run_question(policy, question, transcript=tmp_path / f"p{n}.jsonl")
        approvals = [e for e in read_transcript(result.transcript).events if isinstance(e, Approval)]
        assert approvals, "the candidates were rated inside the policy's run"
        alone = [
            (await run_question(p, question, transcript=tmp_path / f"p{n}-{i}.jsonl")).answer
            for i, p in enumerate(proposers)
        ]
        right_policy += result.answer == truth
        right_single += alone[0] == truth
        reachable += truth in alone
    # A deep enough rating tree confirms the right candidate whenever one is proposed.
    assert right_policy == reachable > right_single
    # As the base of a tree: the task's overseer decomposes, and the policy answers every subquestion.
    tree = hch_tree(task.overseer(facts), policy, 1)
    result = await run_question(tree, "s^9(5)", transcript=tmp_path / "tree.jsonl")
    assert result.answer == task.solve(facts, "s^9(5)")
    workers = {e.worker for e in read_transcript(result.transcript).events if isinstance(e, NodeStart)}
    assert "best-of-n" in workers


def test_hch_approve_end_to_end_on_a_task(hch_home: Path) -> None:
    proc = hch(
        "approve", "--task", "wildcard", "--n", "12", "--candidates", "3", "--noise", "0.4", "--depth", "4",
        "--size", "32", "--name", "wild", "--json", home=hch_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["questions"] == 12 and report["candidates"] == 36
    assert report["mean_approval_correct"] > report["mean_approval_wrong"]
    assert report["best_of_n_accuracy"] >= report["single_accuracy"]
    assert 0.5 < report["auc"] <= 1.0
    dataset = open_dataset(report["dataset"])
    assert dataset.manifest.operator == "approval" and dataset.manifest.examples == 36
    assert verify_dataset(dataset).ok
    example = json.loads(dataset.examples_path.read_text().splitlines()[0])
    assert {"question", "candidate", "approval", "verdict", "provenance", "proposal"} <= example.keys()
    pairs = [json.loads(line) for line in Path(report["preferences"]).read_text().splitlines()]
    assert len(pairs) == report["pairs"] > 0 and all(p.keys() == {"prompt", "chosen", "rejected"} for p in pairs)
    folder = Path(report["dataset"]) / "transcripts"
    for path in (folder / example["provenance"]["transcript"].split("/")[-1], folder / "q0000-c00-proposal.jsonl"):
        replay = hch("replay", str(path), home=hch_home)
        assert replay.returncode == 0 and replay.stdout.startswith("identical"), replay.stdout + replay.stderr
    shown = hch("show", str(folder / "q0000-c00-rating.jsonl"), "--node", "0", home=hch_home)
    assert shown.returncode == 0 and "approval" in shown.stdout and "candidate" in shown.stdout


def test_hch_approve_refuses_bad_input_in_one_line(hch_home: Path) -> None:
    for args, message in [
        (["--task", "wildcard", "--noise", "1.5"], "--noise"),
        (["--task", "nope"], "unknown task"),
        (["--task", "wildcard", "--depth", "0"], "depth"),
        (["--task", "wildcard", "--candidates", "0"], "at least 1"),
    ]:
        proc = hch("approve", *args, "--n", "2", home=hch_home)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_tree_on_the_best_of_n_policy_is_named_in_its_spec_and_replays(tmp_path: Path, hch_home: Path) -> None:
    import asyncio

    from hch.app.spec import BestOfNSpec, RunSpec, TaskSpec, build_model

    task = find_task("wildcard")
    case = task.generate(random.Random(2), 32)
    spec = RunSpec(
        question=case.question,
        depth=1,
        task=TaskSpec(name="wildcard", facts=case.facts),
        best_of_n=BestOfNSpec(candidates=3, rating_depth=4, noise=0.5, seed=2),
    )
    path = tmp_path / "bon.jsonl"
    result = asyncio.run(
        run_question(build_model(spec), spec.question, transcript=path, settings={"spec": spec.model_dump()})
    )
    assert result.answer == task.solve(case.facts, case.question)
    events = read_transcript(path).events
    assert any(isinstance(e, Approval) for e in events)
    replay = hch("replay", str(path), home=hch_home)
    assert replay.returncode == 0 and replay.stdout.startswith("identical"), replay.stdout + replay.stderr


def test_an_interrupted_approve_resumes_without_losing_or_mixing_work(hch_home: Path) -> None:
    args = ["approve", "--task", "assignments", "--n", "5", "--candidates", "2", "--depth", "5", "--size", "24"]
    first = hch(*args, "--name", "first", "--json", home=hch_home)
    assert first.returncode == 0, first.stderr
    expected = json.loads(first.stdout)
    # An interrupted run of the same flags: no manifest yet, one rating never written, one proposal cut short.
    folder = hch_home / "datasets" / "again" / "transcripts"
    (hch_home / "datasets" / "first").rename(folder.parent)
    for name in ("manifest.json", "examples.jsonl", "preferences.jsonl"):
        (folder.parent / name).unlink()
    (folder / "q0002-c01-rating.jsonl").unlink()
    cut = folder / "q0003-c00-proposal.jsonl"
    cut.write_text("".join(cut.read_text().splitlines(keepends=True)[:-2]))
    other = hch(*args, "--noise", "0.9", "--name", "again", "--resume", home=hch_home)
    assert other.returncode == 2 and "other settings" in other.stderr, other.stderr
    resumed = hch(*args, "--name", "again", "--resume", "--json", home=hch_home)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    for key in ("candidates", "mean_approval_correct", "mean_approval_wrong", "single_accuracy", "best_of_n_accuracy"):
        assert report[key] == expected[key], key
    assert (folder / "q0002-c01-rating.jsonl").exists() and (folder / "q0003-c00-proposal.cut.jsonl").exists()
    assert verify_dataset(open_dataset("again")).ok
    missing = hch(*args, "--name", "nothing", "--resume", home=hch_home)
    assert missing.returncode == 2 and "no unfinished dataset" in missing.stderr


def test_dataset_verify_names_an_approval_that_was_edited(hch_home: Path) -> None:
    proc = hch("approve", "--task", "wildcard", "--n", "3", "--candidates", "2", "--depth", "4", "--size", "16",
               "--name", "ratings", "--json", home=hch_home)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert hch("dataset", "verify", "ratings", home=hch_home).returncode == 0
    examples = hch_home / "datasets" / "ratings" / "examples.jsonl"
    lines = examples.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["approval"] = 1.0 - edited["approval"]  # approval says what the tree did not
    examples.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    bad = hch("dataset", "verify", "ratings", home=hch_home)
    assert bad.returncode != 0
    assert "approval" in bad.stdout + bad.stderr and ":2" in bad.stdout + bad.stderr, bad.stdout + bad.stderr
