"""A person at a real terminal: `hch run` in tmux, typed at with send-keys, read with capture-pane.

These are the human-in-the-loop acceptance tests. The LLM is the project's
fault server (hch/testing/fault_server.py) answering with ``tree_policy``;
the algorithmic tasks' program overseer and lookup stand for "the program
elsewhere".
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hch.testing import FaultConfig, FaultServer
from tests.human_helpers import ROOT, Tmux, base_env, hch_argv, tree_policy
from transcripts.events import HumanInput, NodeAnswer, NodeStart
from transcripts.reader import read_transcript

TASK = ["--task", "permutation", "--size", "8", "--seed", "0"]
"""s^5(4) over 8 elements: s^4(4) = 4, s^1(4) = 0, and the answer is 0."""


@pytest.fixture
def terminals() -> Iterator[list[Tmux]]:
    opened: list[Tmux] = []
    yield opened
    for t in opened:
        t.close()


def start(terminals: list[Tmux], home: Path, *args: str, **env: str) -> Tmux:
    t = Tmux(hch_argv(*args), base_env(home, **env))
    terminals.append(t)
    return t


def inputs_of(path: Path) -> list[HumanInput]:
    return [e for e in read_transcript(path).events if isinstance(e, HumanInput)]


def test_without_a_terminal_human_runs_fail_at_once(hch_home: Path) -> None:
    for args in (["--overseer", "human", "--depth", "2"], ["--human-depths", "0", "--depth", "3"]):
        proc = subprocess.run(
            hch_argv("run", *TASK, *args),
            cwd=ROOT,
            env={**os.environ, "HCH_HOME": str(hch_home)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert "standard input is not a terminal" in lines[0]
        assert not list((hch_home / "transcripts").glob("*.jsonl")) if (hch_home / "transcripts").exists() else True


def test_ctrl_c_stops_and_resume_does_not_ask_again(terminals: list[Tmux], hch_home: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    t = start(terminals, hch_home, "run", *TASK, "--depth", "3", "--human-depths", "0", "--transcript", str(first))
    t.wait_for(r"\[0\]> ")
    t.send("ask s^4(4) | s^1(4)")
    t.wait_for("all subquestions are answered")
    t.send("note s^4(4) is 4, then one more step")
    t.wait_for("noted")
    t.key("C-c")
    t.wait_for(r"stop\? \[y/N\]")
    t.send("n")  # no: carry on
    t.wait_for("continuing")
    t.key("C-c")
    t.wait_for(r"stop\? \[y/N\]", count=2)
    t.send("y")
    assert t.wait_exit() == 130
    screen = t.screen()
    assert "interrupted; transcript of what finished" in screen
    end = read_transcript(first).end
    assert end is not None and end.status == "cancelled"
    typed_first = [(i.prompt, i.typed) for i in inputs_of(first)]
    assert typed_first[:2] == [("command", "ask s^4(4) | s^1(4)"), ("command", "note s^4(4) is 4, then one more step")]

    second = tmp_path / "second.jsonl"
    r = start(terminals, hch_home, "run", "--resume", str(first), "--transcript", str(second))
    r.wait_for(r"\[0\]> ")
    r.wait_for("all subquestions are answered")
    r.send("show")
    screen = r.wait_for(r"s\^1\(4\) → 0")
    # The person is shown where they were, and is asked only for what is left.
    assert "s^4(4) → 4" in screen and "s^4(4) is 4, then one more step" in screen
    assert "[0]> ask" not in screen and "[0]> note" not in screen
    r.send("answer 0")
    assert r.wait_exit() == 0
    assert "match" in r.screen()
    resumed = inputs_of(second)
    assert [i.typed for i in resumed] == [
        "ask s^4(4) | s^1(4)",
        "note s^4(4) is 4, then one more step",
        "show",
        "answer 0",
    ]
    # The first two came from the first transcript (same timing and screen), not from the keyboard.
    originals = inputs_of(first)
    assert [(i.seconds, i.shown) for i in resumed[:2]] == [(i.seconds, i.shown) for i in originals[:2]]


def test_end_of_input_ends_cleanly(terminals: list[Tmux], hch_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    t = start(terminals, hch_home, "run", *TASK, "--depth", "2", "--overseer", "human", "--transcript", str(path))
    t.wait_for(r"\[0\]> ")
    t.send("ask s^2(4)")
    t.wait_for("node 0.0")  # the subquestion's human node is queued; Ctrl-D at the root's prompt
    t.key("C-d")
    assert t.wait_exit() == 1
    screen = t.screen()
    assert "error: input ended (Ctrl-D or stdin closed) at the prompt of node 0" in screen
    assert "hch run --resume" in screen
    assert "Traceback" not in screen
    end = read_transcript(path).end
    assert end is not None and end.status == "error"


def test_help_hints_and_editor_at_a_real_terminal(terminals: list[Tmux], hch_home: Path, tmp_path: Path) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text('#!/bin/sh\nprintf "written in the editor\\nsecond line\\n" > "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    path = tmp_path / "run.jsonl"
    t = start(
        terminals,
        hch_home,
        "run",
        *TASK,
        "--depth",
        "3",
        "--human-depths",
        "0",
        "--transcript",
        str(path),
        EDITOR=str(editor),
    )
    t.wait_for(r"\[0\]> ")
    t.send("")
    t.wait_for("nothing typed: type a command, or \\? for help")
    t.send("hello")
    t.wait_for("unknown command 'hello'")
    t.send("ask s^2(4) | ")
    t.wait_for("a subquestion is empty")
    t.send("?")
    t.wait_for("several long ones: one per line")
    t.send("edit answer")
    assert t.wait_exit() == 0
    assert "answer    written in the editor" in t.screen()
    inputs = inputs_of(path)
    assert [i.prompt for i in inputs][-2:] == ["command", "edit-answer"]
    assert inputs[-1].typed == "written in the editor\nsecond line"


def test_human_nodes_at_two_depths_queue_while_the_program_works(
    terminals: list[Tmux], hch_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    t = start(terminals, hch_home, "run", *TASK, "--depth", "3", "--human-depths", "0,1", "--transcript", str(path))
    t.wait_for(r"\[0\]> ")
    t.send("ask s^4(4) | s^1(4)")
    t.wait_for(r"node 0\.1 is waiting for the terminal \(2 human node\(s\) waiting\)")
    t.send("wait")
    t.wait_for("node 0.0 · you are the overseer")
    t.send("ask s^2(4)")
    t.wait_for("all subquestions are answered")
    t.send("answer 4")
    t.wait_for("node 0.1 · you are the overseer")
    t.send("answer 0")
    t.wait_for(r"s\^1\(4\) → 0")
    t.send("answer 0")
    assert t.wait_exit() == 0
    events = read_transcript(path).events
    workers = {e.node_id: e.worker for e in events if isinstance(e, NodeStart)}
    assert workers["0"] == workers["0.0"] == workers["0.1"] == "human"
    assert workers["0.0.0"] == "permutation-overseer"
    answers = {e.node_id: e.answer for e in events if isinstance(e, NodeAnswer)}
    assert answers["0.0"] == "4" and answers["0.1"] == "0" and answers["0"] == "0"
    show = subprocess.run(
        hch_argv("show", str(path)),
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(hch_home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert show.returncode == 0
    assert "[human" in show.stdout and "permutation-overseer" in show.stdout


# -- with the LLM (the fault server) ---------------------------------------------------


@pytest.fixture
def llm() -> Iterator[FaultServer]:
    with FaultServer(FaultConfig(), answer=tree_policy) as server:
        yield server


def llm_env(server: FaultServer) -> dict[str, str]:
    return {"HCH_BASE_URL": server.base_url, "HCH_MODEL": server.model}


def replay_offline(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`hch replay PATH` with no terminal attached (stdin is /dev/null)."""
    return subprocess.run(
        hch_argv("replay", str(path)),
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_person_asks_two_the_llm_answers_and_replay_is_identical(
    terminals: list[Tmux], hch_home: Path, tmp_path: Path, llm: FaultServer
) -> None:
    path = tmp_path / "run.jsonl"
    t = start(
        terminals,
        hch_home,
        "run",
        "How long are a and bb together?",
        "--depth",
        "1",
        "--overseer",
        "human",
        "--transcript",
        str(path),
        **llm_env(llm),
    )
    screen = t.wait_for(r"\[0\]> ")
    assert "How long are a and bb together?" in screen and "depth left: 1" in screen and "budget:" in screen
    t.send("ask What is a? | What is bb?")
    t.wait_for("all subquestions are answered")
    screen = t.screen()
    assert "↳ #0 answered: ans(What is a?)" in screen and "↳ #1 answered: ans(What is bb?)" in screen
    t.send("answer 3 letters")
    assert t.wait_exit() == 0
    assert "answer    3 letters" in t.screen()
    inputs = inputs_of(path)
    assert [(i.node_id, i.prompt, i.typed) for i in inputs] == [
        ("0", "command", "ask What is a? | What is bb?"),
        ("0", "command", "answer 3 letters"),
    ]
    assert all(i.seconds > 0 for i in inputs) and "How long are a and bb together?" in inputs[0].shown
    llm.stop()  # nothing is served any more: the replay must not need it
    proc = replay_offline(path, hch_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("identical: final answer '3 letters'")
    assert "0 network requests" in proc.stdout


def test_llm_branches_complete_while_the_human_prompt_is_open(
    terminals: list[Tmux], hch_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "run.jsonl"
    with FaultServer(FaultConfig(latency_s=0.3), answer=tree_policy) as slow:
        t = start(
            terminals,
            hch_home,
            "run",
            "Root question?",
            "--depth",
            "2",
            "--overseer",
            "llm",
            "--human-depths",
            "0",
            "--transcript",
            str(path),
            **llm_env(slow),
        )
        t.wait_for(r"\[0\]> ")
        t.send("ask Split: a | Split: b")
        t.wait_for("all subquestions are answered", timeout=60)
        t.send("answer done")
        assert t.wait_exit() == 0
    events = read_transcript(path).events
    final = [e for e in events if isinstance(e, HumanInput)][-1]
    opened, closed = final.time - final.seconds, final.time
    landed = [e for e in events if isinstance(e, NodeAnswer) and e.node_id != "0"]
    workers = {e.node_id: e.worker for e in events if isinstance(e, NodeStart)}
    assert workers["0"] == "human" and all(workers[e.node_id] != "human" for e in landed)
    # Two LLM overseers (each asking two) and four LLM leaves, every one answered while the
    # person's prompt was open: typing never froze the tree.
    assert len(landed) == 6
    during = [e for e in landed if opened < e.time < closed]
    assert len(during) == 6, [(e.node_id, round(e.time - opened, 3)) for e in landed]
    # ... and the two LLM branches ran concurrently: each finished after the other had begun answering.
    first_of = {b: min(e.time for e in landed if e.node_id.startswith(b)) for b in ("0.0", "0.1")}
    done = {e.node_id: e.time for e in landed}
    assert first_of["0.1"] < done["0.0"] and first_of["0.0"] < done["0.1"]
    print(
        f"\nprompt open {closed - opened:.2f}s; LLM answers at +"
        + ", +".join(f"{e.time - opened:.2f}s ({e.node_id})" for e in sorted(landed, key=lambda e: e.time))
    )


def test_augmented_mode_at_a_terminal(terminals: list[Tmux], hch_home: Path, tmp_path: Path, llm: FaultServer) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text('#!/bin/sh\nprintf "answer both parts, edited\\n" > "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    path = tmp_path / "run.jsonl"
    t = start(
        terminals,
        hch_home,
        "run",
        "Split: z",
        "--depth",
        "1",
        "--overseer",
        "human",
        "--mode",
        "augmented",
        "--transcript",
        str(path),
        EDITOR=str(editor),
        **llm_env(llm),
    )
    t.wait_for(r"LLM draft: ask z part 1\? \| z part 2\?")
    t.send("ok")  # take the drafted decomposition
    t.wait_for(r"LLM draft: answer ans\(z part 1\?\) \+ ans\(z part 2\?\)")
    t.send("edit")  # edit the drafted answer in $EDITOR
    assert t.wait_exit() == 0
    assert "answer    both parts, edited" in t.screen()
    events = read_transcript(path).events
    assert [(i.prompt, i.typed) for i in events if isinstance(i, HumanInput)] == [
        ("command", "ok"),
        ("command", "edit"),
        ("edit-draft", "answer both parts, edited"),
    ]
    assert next(e for e in events if isinstance(e, NodeStart)).worker.startswith("human+")
    proc = replay_offline(path, hch_home)
    assert proc.returncode == 0 and proc.stdout.startswith("identical"), proc.stdout + proc.stderr


def test_review_mode_at_a_terminal(terminals: list[Tmux], hch_home: Path, tmp_path: Path, llm: FaultServer) -> None:
    path = tmp_path / "run.jsonl"
    t = start(
        terminals,
        hch_home,
        "run",
        "Split: z",
        "--depth",
        "1",
        "--overseer",
        "human",
        "--mode",
        "review",
        "--transcript",
        str(path),
        **llm_env(llm),
    )
    t.wait_for(r"LLM step: ask z part 1\? \| z part 2\?")
    t.send("n")
    t.wait_for("say why")
    t.send("n only one part please")
    t.wait_for(r"LLM step: ask z as told \(only one part please\)\?")
    t.send("y")
    t.wait_for(r"LLM step: answer ans\(z as told \(only one part please\)\?\)")
    t.send("y")
    assert t.wait_exit() == 0
    assert "answer    ans(z as told (only one part please)?)" in t.screen()
    events = read_transcript(path).events
    typed = [i.typed for i in events if isinstance(i, HumanInput)]
    assert typed == ["n", "n only one part please", "y", "y"]
    proc = replay_offline(path, hch_home)
    assert proc.returncode == 0 and proc.stdout.startswith("identical"), proc.stdout + proc.stderr
