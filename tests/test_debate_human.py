"""A person judges debates at a real terminal (tmux): sees only the debate, picks the winner, gives a reason."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.human_helpers import ROOT, Tmux, hch_argv
from tests.test_human_terminal import start, terminals  # noqa: F401  (the terminals fixture)
from transcripts.events import DebateVerdict, HumanInput
from transcripts.reader import read_transcript


def without_terminal(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``hch ARGS`` with standard input closed (not a terminal), as a script or CI would run it."""
    return subprocess.run(
        hch_argv(*args),
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def right_position(screen: str) -> str:
    """What a careful judge concludes from the last debate on screen: whose claim the checked fact supports."""
    debate = screen.rsplit("Judge this debate", 1)[1]
    fact = re.search(r"Checked fact \(from the facts table\): .* = (\S+)", debate)
    if fact is not None:
        stake = re.search(r"At stake: A says (\S+), B says (\S+)", debate)
        assert stake is not None, debate
        return "A" if stake.group(1) == fact.group(1) else "B"
    ended = re.search(r"Ended: \w+ \(debater ([AB])\)", debate)
    assert ended is not None, debate
    return "B" if ended.group(1) == "A" else "A"


def test_a_person_judges_two_debates_and_the_verdicts_replay(
    terminals: list[Tmux],  # noqa: F811
    hch_home: Path,
    tmp_path: Path,
) -> None:
    args = ["debate", "--task", "permutation", "--size", "16", "--n", "2", "--judge", "human", "--dataset", "judged"]
    t = start(terminals, hch_home, *args)
    typed: list[tuple[str, str]] = []
    for count in (1, 2):
        # Debate number `count` has the terminal once its view is on screen with the prompt under it (the prompt
        # alone is not enough: it is printed again when the other debate queues for the terminal).
        t.wait_for(r"Judge this debate[^\n]*\n(?:(?!Judge this debate)[\s\S])*winner \(A or B\): ", count=count)
        screen = t.wait_for(r"Judge this debate", count=count)
        pick = right_position(screen)
        if count == 1:
            t.send("C")  # not a position: asked again
            t.wait_for(r"'C' is not A or B")
        t.send(pick)
        t.wait_for(r"reason: ", count=count)
        reason = f"the checked fact backs {pick} ({count})"
        t.send(reason)
        typed.append((pick, reason))
    assert t.wait_exit(120) == 0, t.screen()

    folder = hch_home / "datasets" / "judged" / "transcripts"
    paths = sorted(folder.glob("debate-*.jsonl"))
    assert len(paths) == 2
    verdicts = []
    for path in paths:
        events = read_transcript(path).events
        inputs = [e for e in events if isinstance(e, HumanInput)]
        (verdict,) = [e for e in events if isinstance(e, DebateVerdict)]
        assert verdict.judge == "human"
        assert [i.prompt for i in inputs][-2:] == ["debate-winner", "debate-reason"]
        assert verdict.winner == inputs[-2].typed and verdict.reason == inputs[-1].typed
        assert verdict.winner_side == "honest"  # the person followed the fact
        shown = inputs[0].shown
        assert "Answer A:" in shown and "honest" not in shown and "liar" not in shown  # only the debate
        verdicts.append((verdict.winner, verdict.reason))
    assert sorted(verdicts) == sorted(typed)
    assert any(i.typed == "C" for p in paths for i in read_transcript(p).events if isinstance(i, HumanInput))

    # Replay feeds the recorded inputs back: no terminal, identical verdicts.
    for path in paths:
        proc = without_terminal(hch_home, "replay", str(path), "--transcript", str(tmp_path / f"{path.stem}-r.jsonl"))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("identical"), proc.stdout


def test_a_human_judge_needs_a_terminal(hch_home: Path) -> None:
    proc = without_terminal(hch_home, "debate", "--task", "permutation", "--n", "1", "--judge", "human")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--judge human needs a person at a terminal" in lines[0]


def test_ctrl_c_while_judging_then_resume_asks_only_what_is_left(
    terminals: list[Tmux],  # noqa: F811
    hch_home: Path,
) -> None:
    args = ["debate", "--task", "wildcard", "--size", "16", "--n", "2", "--judge", "human", "--dataset", "cut"]
    t = start(terminals, hch_home, *args)
    t.wait_for(r"Judge this debate[^\n]*\n(?:(?!Judge this debate)[\s\S])*winner \(A or B\): ")
    first = right_position(t.screen())
    t.send(first)
    t.wait_for(r"reason: ")
    t.send("first one")
    t.wait_for(r"Judge this debate[^\n]*\n(?:(?!Judge this debate)[\s\S])*winner \(A or B\): ", count=2)
    t.key("C-c")
    t.wait_for(r"stop\? \[y/N\] ")
    t.send("y")
    assert t.wait_exit() == 130, t.screen()
    assert "interrupted" in t.screen() and "Traceback" not in t.screen()
    folder = hch_home / "datasets" / "cut"
    assert not (folder / "manifest.json").exists()  # unfinished, but what is done stays

    r = start(terminals, hch_home, *args, "--resume")
    screen = r.wait_for(r"winner \(A or B\): ")
    assert screen.count("Judge this debate") == 1  # the finished debate is read back, not asked again
    r.send(right_position(screen))
    r.wait_for(r"reason: ")
    r.send("second one")
    assert r.wait_exit() == 0, r.screen()
    proc = without_terminal(hch_home, "dataset", "verify", "cut")
    assert proc.returncode == 0 and "verified: 2 example(s)" in proc.stdout, proc.stdout + proc.stderr
    reasons = sorted(
        e.reason
        for p in sorted((folder / "transcripts").glob("debate-000?.jsonl"))
        for e in read_transcript(p).events
        if isinstance(e, DebateVerdict)
    )
    assert reasons == ["first one", "second one"]
