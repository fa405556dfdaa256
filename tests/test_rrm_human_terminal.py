"""A person giving RRM feedback at a real terminal (tmux): sees both answers side by side, consults
the assistant, is told off for a non-choice, stops with Ctrl-C keeping what was given, and resumes
without being asked again; the comparison replays identically."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from operators.dataset import open_dataset, verify_dataset
from operators.rrm.loop import FeedbackExample
from tests.human_helpers import ROOT, Tmux, hch_argv
from tests.test_human_terminal import start, terminals  # noqa: F401  (the terminals fixture)
from transcripts.events import Feedback, HumanInput
from transcripts.reader import read_transcript

ARGS = ["rrm", "--task", "permutation", "--n", "1", "--size", "4", "--seed", "0", "--rounds", "1"]
PROMPT = "which answer is better"


def test_without_a_terminal_human_feedback_fails_at_once(hch_home: Path) -> None:
    proc = subprocess.run(
        hch_argv(*ARGS, "--overseer", "human"),
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(hch_home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "standard input is not a terminal" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_person_gives_feedback_stops_and_resumes(terminals: list[Tmux], hch_home: Path) -> None:  # noqa: F811
    t = start(terminals, hch_home, *ARGS, "--overseer", "human")
    screen = t.wait_for(r"\[0\]> ", timeout=60)
    assert PROMPT in screen and "┃ A" in screen and "┃ B" in screen  # the two answers side by side
    assert "round 1 · comparison 1 of" in screen
    t.send("ask s^1(0)")
    t.wait_for("all subquestions are answered")
    t.send("answer C")
    t.wait_for("'C' is not a choice: answer A or answer B")
    t.send("answer A")
    t.wait_for("comparison 2 of")
    t.wait_for(r"\[0\]> ", count=4)
    t.key("C-c")
    t.wait_for(r"stop\? \[y/N\]")
    t.send("y")
    assert t.wait_exit() == 130

    (folder,) = (hch_home / "rrm").iterdir()
    (feedback_dir,) = (hch_home / "datasets").iterdir()
    assert not (feedback_dir / "manifest.json").exists()  # the round's dataset is unfinished, its runs kept
    first = feedback_dir / "transcripts" / "00000.jsonl"
    events = read_transcript(first).events
    given = next(e for e in events if isinstance(e, Feedback))
    assert given.basis == "person" and given.preferred == "A"
    assert [c["question"] for c in given.consulted] == ["s^1(0)"]
    typed = [e.typed for e in events if isinstance(e, HumanInput)]
    assert typed == ["ask s^1(0)", "answer C", "answer A"]

    # Resume: the first comparison is not asked again; answer the rest with B.
    r = start(terminals, hch_home, "rrm", "--resume", str(folder))
    asked = 0
    while True:
        screen = r.wait_for(r"\[0\]> |RM held-out", timeout=60, count=asked + 1)
        if r.exit_code() is not None or "RM held-out" in screen:
            break
        asked += 1
        r.send("answer B")
    assert r.wait_exit() == 0, r.screen()
    resumed = r.screen()
    assert f"question  {given.question}" not in resumed  # the first comparison was not shown again
    assert "comparison 1 of" not in resumed and "comparison 2 of" in resumed
    dataset = open_dataset(feedback_dir)
    assert verify_dataset(dataset).ok
    examples = dataset.examples(FeedbackExample)
    assert len(examples) == asked + 1  # what was given before Ctrl-C, and after
    assert examples[0].basis == "person" and examples[0].preferred == "A"
    assert all(e.preferred == "B" for e in examples[1:])
    report = json.loads((folder / "report.json").read_text())
    assert report["rounds"][0]["feedback"] == asked + 1
    assert (folder / "reward-model-r1.json").exists()

    # The person's comparison replays identically (their input given back, nothing asked).
    proc = subprocess.run(
        hch_argv("replay", str(first)),
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(hch_home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "identical" in proc.stdout, proc.stdout + proc.stderr
