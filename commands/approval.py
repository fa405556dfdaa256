"""``hch approve``: approval-based amplification (M proposes, Amp(M) approves)."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer

from commands.common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    BudgetOpt,
    ConcurrencyOpt,
    JsonOpt,
    MaxAttemptsOpt,
    MaxSubOpt,
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
    err,
    fail,
    flag,
    llm_fields,
    operator_questions,
    out,
    run_async,
)
from hch.defaults import DEFAULT_MAX_SUBQUESTIONS
from hch.errors import UsageError

# The library is imported inside the command, so that `hch --help` does not load it
# (tests/test_startup.py).
if TYPE_CHECKING:
    from operators.approval.operator import ApprovalOutcome

SAMPLE_TEMPERATURE = 0.7
"""The temperature of free-text runs when none is given: K samples at 0 would be one candidate K times."""


def approve_command(
    task: TaskOpt = None,
    questions: QuestionsOpt = None,
    n: NOpt = 20,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    candidates: Annotated[
        int, typer.Option("--candidates", "-k", help="Candidate answers M proposes per question.")
    ] = 4,
    noise: Annotated[
        float,
        typer.Option("--noise", help="Tasks: the probability that a proposed candidate is wrong (0 to 1)."),
    ] = 0.3,
    depth: Annotated[
        int, typer.Option("--depth", "-d", help="Depth of the rating tree Amp(M): the approver consults depth-1 trees.")
    ] = 3,
    budget: BudgetOpt = None,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the approval dataset (default approval-TASK-RUNID).")
    ] = None,
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
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the unfinished dataset --name (an interrupted run): give the same flags again; "
            "finished runs are kept, cut ones resumed.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approval-based amplification: M proposes K candidates per question, Amp(M) rates each.

    Writes the approval dataset (question, candidate, approval, the rating's
    transcript), the preference pairs it implies (TRL prompt/chosen/rejected)
    and reports how approval tracks the truth, and where it does not.
    """
    from rich.progress import Progress

    from hch.executor import new_run_id
    from operators.approval.operator import ApprovalSettings, approve
    from operators.dataset import dataset_dir

    try:
        if not 0.0 <= noise <= 1.0:
            raise UsageError(f"--noise must be between 0 and 1, got {noise}")
        chosen = operator_questions(task, n, seed, size, questions)
        llm = None
        if chosen.task is None:
            llm = llm_fields(
                model=model,
                base_url=base_url,
                api_key_env=api_key_env,
                temperature=SAMPLE_TEMPERATURE if temperature is None else temperature,
                max_tokens=max_tokens,
                seed=seed,
                concurrency=concurrency,
                no_cache=no_cache,
                timeout=timeout,
                max_attempts=max_attempts,
                structured_output=structured_output,
            )
        if name is None and not resume:
            name = f"approval-{chosen.task.name if chosen.task else 'free'}-{new_run_id()}"
        folder = dataset_dir(name) if name is not None else None
        settings = ApprovalSettings(
            candidates=candidates,
            depth=depth,
            noise=noise if chosen.task is not None else None,
            seed=seed,
            budget=budget,
            max_subquestions=max_subquestions,
        )
    except UsageError as exc:
        fail(str(exc), 2)

    async def go() -> ApprovalOutcome:
        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal)
        with progress:
            bar = progress.add_task("approve", total=len(chosen) * candidates * 2)
            return await approve(
                chosen,
                settings,
                llm=llm,
                name=name,
                notify=partial(err.print, markup=False) if err.is_terminal else None,
                on_result=lambda _r: progress.advance(bar),
                resume=resume,
                label=flag,
            )

    # An interrupted run keeps its transcripts in the folder: `--resume --name NAME` continues it.
    outcome = run_async(go, transcript_hint=folder)
    if as_json:
        print(json.dumps(report(outcome)))
        return
    _print(outcome)


def report(outcome: ApprovalOutcome) -> dict[str, Any]:
    """The `--json` object."""
    return {
        "dataset": str(outcome.dataset.folder),
        "preferences": str(outcome.preferences),
        **outcome.metrics.as_json(),
        "best_of_n": [
            {"question": b.question, "candidate": b.candidate, "approval": b.approval, "correct": b.correct}
            for b in outcome.best
        ],
        "failed": outcome.failed,
    }


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def _print(outcome: ApprovalOutcome) -> None:
    from rich.markup import escape
    from rich.table import Table

    m = outcome.metrics
    table = Table(title=f"approval: {m.questions} questions, {m.candidates} candidates", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("mean approval of correct candidates", _fmt(m.mean_approval_correct))
    table.add_row("mean approval of wrong candidates", _fmt(m.mean_approval_wrong))
    table.add_row("AUC of approval for correctness", _fmt(m.auc))
    table.add_row("single-sample accuracy", _fmt(m.single_accuracy, True))
    table.add_row("best-of-n accuracy", _fmt(m.best_of_n_accuracy, True))
    table.add_row(
        "best-of-n accuracy, ties to the first (approval alone)", _fmt(m.best_of_n_accuracy_without_votes, True)
    )
    table.add_row("best possible (a right candidate was proposed)", _fmt(m.oracle_best_of_n_accuracy, True))
    table.add_row("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(m.verdicts.items())))
    d = m.disagreement
    table.add_row("wrong candidates approved (> 0.5)", str(d["wrong_approved"]))
    table.add_row("correct candidates rejected (< 0.5)", str(d["correct_rejected"]))
    table.add_row("uncertain: correct / wrong", f"{d['uncertain_correct']} / {d['uncertain_wrong']}")
    table.add_row("preference pairs (inverted: wrong chosen over right)", f"{m.pairs} ({d['inverted_pairs']})")
    table.add_row("best-of-n picked a wrong answer over a right one", str(d["best_of_n_picked_wrong_over_correct"]))
    out.print(table)
    for item in d["examples_wrong_approved"][:3]:
        out.print(
            f"wrong but approved {item['approval']:g}: {item['question']} -> {item['candidate']} "
            f"({item['transcript']})",
            markup=False,
            soft_wrap=True,
        )
    if outcome.failed:
        err.print(f"{len(outcome.failed)} run(s) failed; first: {escape(outcome.failed[0])}")
    out.print(f"[bold]dataset[/]     {escape(str(outcome.dataset.folder))}")
    out.print(f"[bold]preferences[/] {escape(str(outcome.preferences))}")
