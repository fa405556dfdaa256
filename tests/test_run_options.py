"""Building a run from options in the library (hch.app.options): the same runs as `hch run`, bad options refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.common import flag
from hch.app.options import ModelOptions, RunOptions, plan_runs
from hch.errors import UsageError, by_name
from tests.test_cli_tasks import hch, one_line_error
from transcripts import read_transcript


def test_the_same_options_give_the_spec_hch_run_records(hch_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    args = ["--task", "permutation", "--seed", "3", "--size", "16", "--depth", "4", "--budget", "9"]
    proc = hch("run", *args, "--max-subquestions", "3", "--transcript", str(path), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    recorded = read_transcript(path).header.settings["spec"]

    planned = plan_runs(RunOptions(task="permutation", seed=3, size=16, depth=4, budget=9, max_subquestions=3))
    assert len(planned) == 1
    assert planned[0].spec.model_dump(mode="json") == recorded
    assert planned[0].expected == json.loads(proc.stdout)["expected"]


def test_a_facts_file_plans_one_run_per_question(tmp_path: Path) -> None:
    facts = tmp_path / "mine.json"
    facts.write_text(
        json.dumps({"task": "permutation", "facts": {"permutation": [1, 2, 3, 0]}, "questions": ["s^6(1)", "s^1(0)"]})
    )
    planned = plan_runs(RunOptions(facts=facts, depth=3))
    assert [(p.spec.question, p.expected) for p in planned] == [("s^6(1)", "3"), ("s^1(0)", "1")]
    assert all(p.spec.task is not None and p.spec.task.seed is None for p in planned)
    with pytest.raises(UsageError, match="transcript names one file, but the facts file holds several questions"):
        plan_runs(RunOptions(facts=facts, depth=3, transcript=tmp_path / "one.jsonl"))


def test_a_free_text_question_gets_the_model_settings() -> None:
    options = RunOptions(question="Why?", depth=1, model=ModelOptions(model="m", base_url="http://127.0.0.1:9/v1"))
    (run,) = plan_runs(options)
    assert run.expected is None and run.spec.overseer == "llm"
    assert run.spec.llm is not None and run.spec.llm.model == "m"
    assert run.spec.structured_output == "json_schema"
    # A task run worked by the task's program needs no model: its spec records none.
    (task_run,) = plan_runs(RunOptions(task="wildcard", depth=1, model=options.model))
    assert task_run.spec.llm is None


BAD = [
    (RunOptions(task="permutation", depth=-1), "depth must be 0 or more, got -1"),
    (RunOptions(task="permutation", budget=0), "budget must be at least 1 call"),
    (RunOptions(task="permutation", max_subquestions=1001), "max_subquestions must be at most 1,000"),
    (RunOptions(task="permutation", size=0), "size must be at least 1"),
    (RunOptions(task="permutation", transcript=Path(__file__)), f"transcript {__file__} already exists"),
    (
        RunOptions(task="permutation", transcript=Path(__file__).parent),
        f"transcript {Path(__file__).parent} is a folder",
    ),
    (RunOptions(), "give a question, or task NAME, or facts FILE"),
    (RunOptions(question="Why?", overseer="robot"), "overseer 'robot': choose program, llm or human"),
    (RunOptions(question="Why?", overseer="program"), "overseer program needs task or facts"),
    (RunOptions(question="Why?", mode="review"), "mode review is how a person works a node: add overseer human"),
    (RunOptions(question="Why?", overseer="human", human_depths="0,x"), "human_depths '0,x': 'x' is not a depth"),
    (RunOptions(question="Why?", overseer="human", mode="sideways"), "mode 'sideways': choose one of"),
    (
        RunOptions(question="Why?", model=ModelOptions(model="m", structured_output="xml")),
        "structured_output 'xml': choose auto",
    ),
]


@pytest.mark.parametrize(("options", "message"), BAD)
def test_bad_options_are_one_line_usage_errors_naming_the_option(options: RunOptions, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        plan_runs(options)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert "--" not in text  # the library names options by their names, not by command-line flags


@pytest.mark.parametrize(("options", "message"), BAD[:6])
def test_the_command_line_shows_its_flags_for_the_same_errors(options: RunOptions, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        plan_runs(options, label=flag)
    name, rest = message.split(" ", 1)
    assert str(caught.value).startswith(f"{flag(name)} {rest}")


def test_hch_run_reports_a_bad_option_as_the_library_does(hch_home: Path) -> None:
    proc = hch("run", "Why?", "--overseer", "program", home=hch_home)
    assert proc.returncode == 2
    assert "--overseer program needs --task or --facts" in one_line_error(proc)


def test_a_base_url_without_a_model_names_the_model_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HCH_MODEL", raising=False)
    options = RunOptions(question="Why?", model=ModelOptions(base_url="http://127.0.0.1:9/v1"))
    for label, shown in ((by_name, "model"), (flag, "--model")):
        with pytest.raises(UsageError, match=f"^no model given: name one with {shown} or set HCH_MODEL$"):
            plan_runs(options, label=label)


def test_a_run_without_a_model_says_how_to_name_one() -> None:
    from hch.app.spec import RunSpec, build_model
    from hch.errors import needs_model

    with pytest.raises(UsageError) as caught:
        build_model(RunSpec(question="Why?", depth=1, overseer="llm"))
    how = "(or set HCH_MODEL and HCH_BASE_URL), or use the embedded model"
    assert str(caught.value) == f"this run needs a model: give model and base_url {how}"
    shown = str(needs_model("this run", label=flag))
    assert shown == f"this run needs a model: give --model and --base-url {how}"


@pytest.mark.parametrize("command", [["run", "Why?"], ["distill", "--status", "ftjob-1"]])
def test_the_command_line_names_its_model_flag(
    command: list[str], hch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HCH_MODEL", raising=False)
    proc = hch(*command, "--base-url", "http://127.0.0.1:9/v1", home=hch_home)
    assert proc.returncode == 2
    assert one_line_error(proc) == "error: no model given: name one with --model or set HCH_MODEL"
