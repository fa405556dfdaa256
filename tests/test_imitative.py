"""Imitative amplification end to end on the tasks: amplify, the datasets, iterate, replay, resume."""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit_helpers import hch, one_line_error


def amplify(home: Path, *args: str) -> dict[str, object]:
    proc = hch("amplify", *args, "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report, dict)
    return report


def test_amplify_writes_a_dataset_that_verifies_and_names_an_edited_answer(hch_home: Path) -> None:
    shallow = amplify(hch_home, "--task", "wildcard", "--n", "6", "--size", "16", "--depth", "1", "--name", "w1")
    deep = amplify(hch_home, "--task", "wildcard", "--n", "6", "--size", "16", "--depth", "4", "--name", "w4")
    assert shallow["examples"] == deep["examples"] == 6
    assert deep["accuracy"] == 1.0 and shallow["accuracy"] < 1.0  # type: ignore[operator]
    proc = hch("dataset", "verify", "w4", "--json", home=hch_home)
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True

    shown = json.loads(hch("dataset", "show", "w4", "--json", home=hch_home).stdout)
    assert shown["operator"] == "imitative" and shown["kind"] == "imitation" and shown["task"] == "wildcard"
    first = shown["first"][0]
    assert first["decomposition"] and {"question", "answer", "status"} <= set(first["decomposition"][0])

    examples = hch_home / "datasets" / "w4" / "examples.jsonl"
    lines = examples.read_text().splitlines()
    edited = json.loads(lines[4])
    edited["answer"] = str(int(edited["answer"]) + 5)
    lines[4] = json.dumps(edited)
    examples.write_text("\n".join(lines) + "\n")
    proc = hch("dataset", "verify", "w4", home=hch_home)
    assert proc.returncode == 1
    assert "examples.jsonl:5: its answer" in proc.stdout and "is not what the tree produced" in proc.stdout
    report = json.loads(hch("dataset", "verify", "w4", "--json", home=hch_home).stdout)
    assert [p["line"] for p in report["problems"] if p["line"] is not None] == [5]
    # Using it is refused with the same line named.
    proc = hch("amplify", "--task", "wildcard", "--n", "2", "--size", "16", "--distilled", "w4", home=hch_home)
    assert proc.returncode == 2 and "examples.jsonl:5: edited since the dataset was sealed" in one_line_error(proc)


def test_a_dataset_of_another_task_or_a_missing_one_is_refused(hch_home: Path) -> None:
    amplify(hch_home, "--task", "permutation", "--n", "3", "--size", "16", "--name", "perm")
    proc = hch("amplify", "--task", "wildcard", "--n", "2", "--distilled", "perm", home=hch_home)
    assert proc.returncode == 2
    assert "manifest.json:1: a dataset of task 'permutation', not 'wildcard'" in one_line_error(proc)
    proc = hch("dataset", "show", "nope", home=hch_home)
    assert proc.returncode == 2 and "no such dataset" in one_line_error(proc)
    proc = hch("amplify", "--task", "wildcard", "--name", "../x", home=hch_home)
    assert proc.returncode == 2 and "dataset name" in one_line_error(proc)


def test_export_writes_the_examples_and_never_overwrites(hch_home: Path, tmp_path: Path) -> None:
    amplify(hch_home, "--task", "assignments", "--n", "4", "--size", "16", "--depth", "3", "--name", "a3")
    target = tmp_path / "a3.jsonl"
    proc = hch("dataset", "export", "a3", "--out", str(target), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 4 and all("provenance" in r for r in rows)
    proc = hch("dataset", "export", "a3", "--out", str(target), home=hch_home)
    assert proc.returncode == 2 and "already exists" in one_line_error(proc)


def iterate(home: Path, *args: str) -> dict[str, object]:
    proc = hch("iterate", *args, "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report, dict)
    return report


def test_iterate_reaches_the_full_depth_tree_with_one_call_per_question(hch_home: Path) -> None:
    report = iterate(hch_home, "--task", "permutation", "--n", "6", "--size", "32", "--rounds", "5", "--name", "p")
    rounds = report["rounds"]
    assert isinstance(rounds, list) and [r["round"] for r in rounds] == [1, 2, 3, 4, 5]
    full = report["full_depth"]
    assert isinstance(full, dict) and full["accuracy"] == 1.0 and full["depth"] <= 5
    last, first = rounds[-1], rounds[0]
    assert last["distilled_accuracy"] == full["accuracy"] and last["distilled_calls_per_question"] == 1.0
    assert first["distilled_accuracy"] < 0.5 * full["accuracy"]
    accuracies = [r["distilled_accuracy"] for r in rounds]
    assert accuracies == sorted(accuracies)
    # Round t's distilled model is as accurate as a depth-t HCH tree: the iterated-amplification curve.
    curve = report["hch_accuracy_by_depth"]
    assert isinstance(curve, list)
    for r in rounds:
        assert r["distilled_accuracy"] == curve[min(r["round"], len(curve) - 1)]
        assert r["agreement"] == 1.0  # a memoriser imitates Amp(M_t) exactly, errors included
        assert set(r) >= {"amplified_accuracy", "distilled_accuracy", "agreement", "calls_per_question"}

    # Every round's dataset verifies, and a distilled model's run replays identically.
    proc = hch("dataset", "verify", "p-r3", home=hch_home)
    assert proc.returncode == 0, proc.stdout
    run = hch_home / "iterate" / "p" / "r3-distilled" / "00002.jsonl"
    spec = json.loads(run.read_text().splitlines()[0])["settings"]["spec"]
    assert spec["distilled"]["dataset"] == "p-r3" and len(spec["distilled"]["sha256"]) == 64
    proc = hch("replay", str(run), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["identical"] is True
    amp_run = hch_home / "datasets" / "p-r3" / "transcripts" / "000001.jsonl"
    assert json.loads(hch("replay", str(amp_run), "--json", home=hch_home).stdout)["identical"] is True

    # The model is pinned by digest: a changed dataset is refused by name, not silently used.
    examples = hch_home / "datasets" / "p-r3" / "examples.jsonl"
    lines = examples.read_text().splitlines()
    row = json.loads(lines[0])
    row["answer"] = "17" if row["answer"] != "17" else "18"
    examples.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    proc = hch("replay", str(run), home=hch_home)
    assert proc.returncode == 2 and "the dataset changed since" in one_line_error(proc)


def test_an_interrupted_iterate_resumes_without_repeating_finished_calls(hch_home: Path) -> None:
    args = ["--task", "wildcard", "--n", "4", "--size", "16", "--name", "w"]
    two = iterate(hch_home, *args, "--rounds", "2")
    r1 = hch_home / "datasets" / "w-r1"
    stamp = {p: p.stat().st_mtime_ns for p in r1.rglob("*")}
    # Round 3 was cut short: its dataset unsealed, one transcript cut mid-line.
    cut_round = hch_home / "datasets" / "w-r3" / "transcripts"
    cut_round.mkdir(parents=True)
    source = hch_home / "datasets" / "w-r2" / "transcripts" / "000000.jsonl"
    proc = hch("iterate", *args, "--rounds", "3", home=hch_home)
    assert proc.returncode == 2 and "add --resume" in one_line_error(proc)

    four = iterate(hch_home, *args, "--rounds", "4", "--resume")
    assert four["rounds"][:2] == two["rounds"]  # type: ignore[index]
    assert {p: p.stat().st_mtime_ns for p in r1.rglob("*")} == stamp  # finished rounds read back, untouched
    assert len(four["rounds"]) == 4  # type: ignore[arg-type]
    assert source.exists()

    # Cut a finished round's run and unseal it: the resume keeps the cut file and finishes it.
    r4 = hch_home / "datasets" / "w-r4"
    (r4 / "manifest.json").unlink()
    victim = r4 / "transcripts" / "000003.jsonl"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 2 // 3])
    again = iterate(hch_home, *args, "--rounds", "4", "--resume")
    assert again["rounds"] == four["rounds"]
    assert (r4 / "transcripts" / "000003.cut.jsonl").read_bytes() == data[: len(data) * 2 // 3]
    assert hch("dataset", "verify", "w-r4", home=hch_home).returncode == 0
