"""`hch amplify --overseer human`: a person at a real terminal (tmux) is the overseer of the amplification step."""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit_helpers import hch
from tests.human_helpers import Tmux
from tests.test_human_terminal import start, terminals

__all__ = ["terminals"]


def test_a_person_is_the_overseer_of_the_amplification_step(terminals: list[Tmux], hch_home: Path) -> None:
    # --seed 0 --size 8 asks s^3(7) on [5, 0, 3, 6, 4, 7, 2, 1] (= 5) and s^2(4) on [2, 7, 6, 0, 4, 5, 1, 3] (= 4).
    args = ["--task", "permutation", "--size", "8", "--n", "2", "--depth", "1", "--overseer", "human", "--name", "h"]
    t = start(terminals, hch_home, "amplify", *args)
    t.wait_for(r"s\^3\(7\)")
    t.wait_for(r"\[0\]> ")
    t.send("ask s^1(7)")
    t.wait_for("all subquestions are answered")
    t.send("answer 5")
    t.wait_for(r"s\^2\(4\)")  # the next question gets the terminal once the first is answered
    t.send("answer 4")
    assert t.wait_exit() == 0, t.screen()
    rows = [json.loads(line) for line in (hch_home / "datasets" / "h" / "examples.jsonl").read_text().splitlines()]
    assert [(r["question"], r["answer"]) for r in rows] == [("s^3(7)", "5"), ("s^2(4)", "4")]
    assert rows[0]["decomposition"] == [{"question": "s^1(7)", "answer": "1", "status": "worked"}]
    assert rows[1]["decomposition"] == []
    assert hch("dataset", "verify", "h", home=hch_home).returncode == 0
    # What the person typed is in the transcript, and a replay gives it back without a terminal.
    transcript = hch_home / "datasets" / "h" / "transcripts" / "00000.jsonl"
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    typed = [e["typed"] for e in events if e["kind"] == "human_input"]
    assert typed == ["ask s^1(7)", "answer 5"]
    proc = hch("replay", str(transcript), "--json", home=hch_home)
    assert proc.returncode == 0 and json.loads(proc.stdout)["identical"] is True, proc.stderr
