"""``hch debate``: two debaters argue, a judge decides; win rates and rewards."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from commands.common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    JsonOpt,
    MaxAttemptsOpt,
    MaxTokensOpt,
    ModelOpt,
    NoCacheOpt,
    NOpt,
    QuestionsOpt,
    SeedOpt,
    SizeOpt,
    StructuredOpt,
    TaskOpt,
    TemperatureOpt,
    TimeoutOpt,
    fail,
    llm_fields,
    operator_questions,
    out,
    run_async,
)
from hch.errors import UsageError

# The library is imported inside the commands, so that `hch --help` does not load it
# (tests/test_startup.py).
if TYPE_CHECKING:
    from hch.app.spec import RunSpec
    from operators.debate.spec import JudgeKind, Liar

if TYPE_CHECKING:
    from operators.dataset import DatasetWriter
    from operators.debate.runner import DebateExample

NO_TTY_JUDGE = "--judge human needs a person at a terminal, but standard input is not one"


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> str:
    if value not in allowed:
        raise UsageError(f"{flag} {value!r}: choose {', '.join(allowed)}")
    return value


def debate(
    task: TaskOpt = None,
    questions: QuestionsOpt = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", help="Free text: the text debaters quote from (for questions without their own 'source')."
        ),
    ] = None,
    n: NOpt = 100,
    turns: Annotated[
        int | None,
        typer.Option(
            "--turns", help="Task: most steps before a fact is at stake (default 12). Free text: rounds (default 2)."
        ),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge", help="Who decides: program (task debates; their default), llm (free text's default), human."
        ),
    ] = None,
    liar: Annotated[
        str,
        typer.Option(
            "--liar",
            help="How the task liar lies: consistent (defends a root lie with consistent invented sub-claims), "
            "random (random wrong claims everywhere), top (lies at the root only).",
        ),
    ] = "consistent",
    word_limit: Annotated[int, typer.Option("--word-limit", help="Free text: words per argument.")] = 60,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Name of the dataset of debates (default debate-TASK-RUNID)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run of the same flags into its --dataset: finished debates are read "
            "back, cut ones continue from their transcripts (nothing recorded is asked again).",
        ),
    ] = False,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    concurrency: ConcurrencyOpt = None,
    no_cache: NoCacheOpt = False,
    timeout: TimeoutOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    structured_output: StructuredOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Debate: an honest and a lying debater argue, a judge who sees only the debate picks the winner.

    Free-text questions (--questions) need "reference" (the correct answer) and "incorrect" (the one the
    liar argues); each is debated twice, the correct answer first as A, then as B.
    """
    from hch.executor import new_run_id
    from hch.human.console import stdin_is_tty
    from operators.dataset import DatasetWriter
    from operators.debate.runner import DebateExample, free_debates, task_debates
    from operators.debate.spec import JUDGES, LIARS
    from operators.paths import check_name, dataset_dir

    try:
        chosen: JudgeKind = _choice(judge or ("program" if task else "llm"), JUDGES, "--judge")  # type: ignore[assignment]
        strategy: Liar = _choice(liar, LIARS, "--liar")  # type: ignore[assignment]
        if word_limit < 1:
            raise UsageError(f"--word-limit must be at least 1, got {word_limit}")
        rounds = turns if turns is not None else (12 if task is not None else 2)
        if rounds < 1:
            raise UsageError(f"--turns must be at least 1, got {rounds}")
        if task is None and chosen == "program":
            raise UsageError("--judge program decides task debates only: use llm or human with --questions")
        chosen_questions = operator_questions(task, n, seed, size, questions)
        if task is not None:
            specs = task_debates(chosen_questions, turns=rounds, judge=chosen, liar=strategy)
        else:
            text = _read_source(source) if source is not None else None
            specs = free_debates(
                chosen_questions.free,
                turns=rounds,
                judge=chosen,
                word_limit=word_limit,
                source=text,
                where=str(questions),
            )
        if any(s.debate is not None and s.debate.needs_llm for s in specs):
            fields = llm_fields(
                model=model,
                base_url=base_url,
                api_key_env=api_key_env,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=None,
                concurrency=concurrency,
                no_cache=no_cache,
                timeout=timeout,
                max_attempts=max_attempts,
                structured_output=structured_output,
            )
            specs = [s.model_copy(update=fields) for s in specs]
        if resume and dataset is None:
            raise UsageError("--resume continues a dataset: give its --dataset NAME")
        name = check_name(dataset or f"debate-{task or 'free'}-{new_run_id()}")
        settings: dict[str, Any] = {"turns": rounds, "judge": chosen, "seed": seed}
        settings.update({"liar": strategy, "size": size} if task else {"word_limit": word_limit})
        writer = DatasetWriter(
            dataset_dir(name), DebateExample, operator="debate", task=task, settings=settings, resume=resume
        )
    except UsageError as exc:
        fail(str(exc), 2)
    if chosen == "human" and not stdin_is_tty():
        fail(NO_TTY_JUDGE, 2)
    summary = run_async(partial(_run, specs, writer, chosen == "human", resume), transcript_hint=writer.transcripts)
    report = {"task": task, "judge": chosen, "liar": strategy if task else None}
    report.update(summary)
    if as_json:
        print(json.dumps(report))
        return
    _print(report)


async def _run(specs: list[RunSpec], writer: DatasetWriter[DebateExample], human: bool, resume: bool) -> dict[str, Any]:
    from hch.human.console import HumanConsole
    from operators.debate.runner import run_debates

    console = HumanConsole() if human else None
    try:
        summary, dataset = await run_debates(specs, writer, console=console, resume=resume)
    finally:
        if console is not None:
            console.close()
    return {**summary.as_json(), "dataset": dataset.name, "dataset_folder": str(dataset.folder)}


def _read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--source {path}: cannot read it ({exc})") from None


def _print(report: dict[str, Any]) -> None:
    from rich.table import Table

    title = f"debate: {report['task'] or 'free text'} · judge {report['judge']}"
    if report["liar"]:
        title += f" · liar {report['liar']}"
    table = Table(title=title)
    for col in ("debates", "honest win rate", "judge accuracy", "mean turns", "A wins", "B wins", "undecided"):
        table.add_column(col, justify="right")
    by_position = report["win_rate_by_position"]
    table.add_row(
        str(report["n"]),
        f"{report['honest_win_rate']:.0%}",
        f"{report['judge_accuracy']:.0%}",
        f"{report['mean_turns']:.2f}",
        f"{by_position['A']:.0%}",
        f"{by_position['B']:.0%}",
        str(report["undecided"]),
    )
    out.print(table)
    out.print(f"dataset {report['dataset']}: {report['dataset_folder']}", markup=False, soft_wrap=True)
