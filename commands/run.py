"""``hch run``, ``hch eval`` and ``hch tasks``: questions through trees."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from commands.common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    BudgetOpt,
    ConcurrencyOpt,
    DepthOpt,
    HumanDepthsOpt,
    JsonOpt,
    MaxAttemptsOpt,
    MaxSubOpt,
    MaxTokensOpt,
    MaxWaitOpt,
    ModelOpt,
    ModeOpt,
    NoCacheOpt,
    OverseerOpt,
    SeedOpt,
    SizeOpt,
    StructuredOpt,
    TaskOpt,
    TemperatureOpt,
    TimeoutOpt,
    TokenBudgetOpt,
    TrustEditedOpt,
    err,
    fail,
    flag,
    integrity_or_fail,
    model_options,
    new_transcript_or_fail,
    out,
    read_verified_or_fail,
    run_async,
)
from hch.defaults import DEFAULT_MAX_SUBQUESTIONS
from hch.errors import UsageError
from hch.limits import MAX_INSTANCES

# The library is imported inside the commands (see commands/common.py).
if TYPE_CHECKING:
    from hch.app.spec import RunSpec
    from hch.executor import RunResult


def _report(spec: RunSpec, result: RunResult, expected: str | None) -> dict[str, Any]:
    """A run's outcome as `--json` prints it."""
    return {
        "question": spec.question,
        "answer": result.answer,
        "expected": expected,
        "match": None if expected is None else result.answer == expected,
        "depth": spec.depth,
        "nodes": result.nodes,
        "calls": result.calls,
        "network_calls": result.network_calls,
        "reused": result.counts.get("reuse", 0),
        "spent": result.spent,
        "token_budget": spec.token_budget,
        "tokens_spent": result.tokens_spent,
        "transcript": str(result.transcript),
    }


def _print_run(spec: RunSpec, result: RunResult, expected: str | None) -> None:
    from rich.markup import escape

    out.print(f"[bold]question[/]  {escape(spec.question)}")
    out.print(f"[bold]answer[/]    {escape(result.answer)}")
    if expected is not None:
        mark = "[green]match[/]" if result.answer == expected else "[red]MISMATCH[/]"
        out.print(f"[bold]expected[/]  {escape(expected)}  {mark}")
    out.print(
        f"depth {spec.depth} · nodes {result.nodes} · calls {result.calls} · "
        f"reused {result.counts.get('reuse', 0)} · budget spent {result.spent}"
        + (f" of {spec.budget}" if spec.budget is not None else "")
        + (f" · tokens spent {result.tokens_spent} of {spec.token_budget}" if spec.token_budget is not None else "")
    )
    out.print(f"[bold]transcript[/] {escape(str(result.transcript))}")


def run(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question (optional with --task or --facts).")] = None,
    depth: DepthOpt = 3,
    budget: BudgetOpt = None,
    token_budget: TokenBudgetOpt = None,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    task: TaskOpt = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Seed of the generated task instance (default 0), and of the model's sampling if given."
        ),
    ] = None,
    size: SizeOpt = 64,
    facts: Annotated[
        Path | None, typer.Option("--facts", help="JSON file with a task instance (see docs/tasks.md).")
    ] = None,
    overseer: OverseerOpt = None,
    human_depths: HumanDepthsOpt = None,
    mode: ModeOpt = "direct",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    concurrency: ConcurrencyOpt = None,
    no_cache: NoCacheOpt = False,
    timeout: TimeoutOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    max_wait: MaxWaitOpt = None,
    structured_output: StructuredOpt = "auto",
    transcript: Annotated[
        Path | None, typer.Option("--transcript", help="Where to write the transcript (default under $HCH_HOME).")
    ] = None,
    as_json: JsonOpt = False,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue a killed run from its transcript (question and flags come from it)."),
    ] = None,
    trust_edited: TrustEditedOpt = False,
) -> None:
    """Run a question through a depth-k HCH tree and print its answer."""
    from hch.app.options import RunOptions, plan_runs
    from hch.app.progress import ProgressLine
    from hch.app.runtime import run_spec
    from hch.executor import default_transcript_path, new_run_id
    from hch.human.build import has_people
    from hch.human.console import NO_TTY, stdin_is_tty

    if resume is not None:
        _resume_run(ctx, resume, transcript, as_json, trust_edited)
        return
    if trust_edited:
        fail("--trust-edited applies to --resume (a run that builds on a transcript)", 2)
    options = RunOptions(
        question=question,
        depth=depth,
        budget=budget,
        token_budget=token_budget,
        max_subquestions=max_subquestions,
        task=task,
        seed=seed,
        size=size,
        facts=facts,
        overseer=overseer,
        human_depths=human_depths,
        mode=mode,
        model=model_options(
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            concurrency=concurrency,
            no_cache=no_cache,
            timeout=timeout,
            max_attempts=max_attempts,
            max_wait=max_wait,
            structured_output=structured_output,
        ),
        transcript=transcript,
    )
    try:
        planned = plan_runs(options, label=flag)
    except UsageError as exc:
        fail(str(exc), 2)
    people = has_people(planned[0].spec)
    if people and not stdin_is_tty():
        fail(NO_TTY, 2)

    notify = partial(err.print, markup=False) if err.is_terminal else None
    reports = []
    for spec, expected in ((p.spec, p.expected) for p in planned):
        run_id = new_run_id()
        path = transcript or default_transcript_path(run_id)
        # A person at the terminal gets the screen: no live progress line under the prompt.
        live = ProgressLine(err) if not as_json and err.is_terminal and not people else None
        listeners = [live] if live else []
        go = partial(run_spec, spec, transcript=path, run_id=run_id, listeners=listeners, display=live, notify=notify)
        result = run_async(go, transcript_hint=path)
        if as_json:
            reports.append(_report(spec, result, expected))
        else:
            _print_run(spec, result, expected)
    if as_json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports))


def eval_(
    task: Annotated[str, typer.Option("--task", "-t", help="Algorithmic task (see `hch tasks`).")],
    depth: Annotated[
        list[int], typer.Option("--depth", "-d", help="Tree depth; repeat for a table of accuracy against depth.")
    ],
    n: Annotated[int, typer.Option("--n", help=f"Random instances per depth (1 to {MAX_INSTANCES:,}).")] = 100,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    budget: BudgetOpt = None,
    token_budget: TokenBudgetOpt = None,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy of depth-k trees on N random instances, scored by an independent solver."""
    from rich.progress import Progress
    from rich.table import Table

    from hch.app.evaluate import evaluate, instances
    from hch.app.spec import check_bounds
    from hch.executor import new_run_id
    from hch.limits import check_instances, check_size
    from hch.paths import transcripts_dir
    from hch.tasks import find_task

    try:
        the_task = find_task(task)
        for d in depth:
            check_bounds(d, budget, max_subquestions, token_budget=token_budget, label=flag)
        check_instances(n, flag("n"))
        check_size(size, flag("size"))
    except UsageError as exc:
        fail(str(exc), 2)
    cases = instances(the_task, n, seed, size)
    folder = transcripts_dir() / f"eval-{task}-{new_run_id()}"

    async def go() -> list[Any]:
        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal)
        with progress:
            bar = progress.add_task(f"{task}", total=n * len(depth))
            return await evaluate(
                the_task,
                depth,
                cases,
                transcript_dir=folder,
                budget=budget,
                max_subquestions=max_subquestions,
                token_budget=token_budget,
                on_result=lambda _d, _ok: progress.advance(bar),
            )

    scores = run_async(go, transcript_hint=folder)
    if as_json:
        print(
            json.dumps(
                {
                    "task": task,
                    "n": n,
                    "seed": seed,
                    "size": size,
                    "transcripts": str(folder),
                    "depths": [s.as_json() for s in scores],
                }
            )
        )
        return
    table = Table(title=f"{task}: accuracy against depth ({n} instances of size {size}, seed {seed})")
    for col in ("depth", "accuracy", "correct", "mean nodes", "mean calls", "reused"):
        table.add_column(col, justify="right")
    for s in scores:
        row = s.as_json()
        table.add_row(
            str(s.depth),
            f"{s.accuracy:.0%}",
            f"{s.correct}/{s.n}",
            f"{row['mean_nodes']:.1f}",
            f"{row['mean_calls']:.1f}",
            str(s.reused),
        )
    out.print(table)
    out.print(f"transcripts: {folder}")


def tasks(as_json: JsonOpt = False) -> None:
    """List the algorithmic tasks, their question syntax and facts format."""
    from rich.markup import escape

    from hch.tasks import ALL_TASKS

    if as_json:
        described = [
            {"name": t.name, "summary": t.summary, "question_format": t.question_format, "facts_format": t.facts_format}
            for t in ALL_TASKS
        ]
        print(json.dumps({"tasks": described}))
        return
    for t in ALL_TASKS:
        # The formats hold JSON such as [p0, p1, ...], which rich would read as markup.
        out.rule(escape(t.name), style="bold")
        out.print(t.summary, markup=False)
        out.print(f"[bold]question[/] {escape(t.question_format)}")
        out.print(f"[bold]facts[/]    {escape(t.facts_format)}")
    out.print(
        "\nRun one: hch run --task NAME --depth K   ·   your own instance: hch run --facts FILE (docs/tasks.md)",
        markup=False,
    )


_RESUME_ALLOWED = {"transcript", "as_json", "resume", "trust_edited"}
_OPTION_OF_FLAG = {"timeout": "timeout_s", "max_wait": "max_wait_s", "no_cache": "cache"}
"""The flags named otherwise than the library's options (--no-cache is ``cache`` turned off)."""


def _resume_run(ctx: typer.Context, resume: Path, transcript: Path | None, as_json: bool, trust_edited: bool) -> None:
    """`hch run --resume`: continue a cut run; the question and flags come from its header."""
    from hch.app.options import check_resume_options
    from hch.app.progress import ProgressLine
    from hch.app.replay import resume as resume_recorded
    from hch.app.replay import spec_of
    from hch.executor import default_transcript_path, new_run_id
    from hch.human.build import has_people
    from hch.tasks import find_task
    from transcripts.reader import TranscriptError

    if transcript is None or transcript.resolve() != resume.resolve():  # that one is said below, more precisely
        new_transcript_or_fail(transcript)
    # One pass over the file's bytes, without the requests (recorded calls are matched by hash), as a replay.
    original, verified = read_verified_or_fail(resume, requests=False)
    given = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if name not in _RESUME_ALLOWED and source is not None and source.name != "DEFAULT":
            given[_OPTION_OF_FLAG.get(name, name)] = (not value) if name == "no_cache" else value
    try:
        spec = spec_of(original)
        overrides = check_resume_options(spec, given, resume, label=flag)
    except (UsageError, TranscriptError) as exc:
        fail(str(exc), 2)
    integrity = integrity_or_fail(original, action="resume", trust_edited=trust_edited, report=verified)
    expected = find_task(spec.task.name).solve(spec.task.facts, spec.question) if spec.task is not None else None
    run_id = new_run_id()
    path = transcript or default_transcript_path(run_id)
    live = ProgressLine(err) if not as_json and err.is_terminal and not has_people(spec) else None
    go = partial(
        resume_recorded,
        original,
        transcript=path,
        listeners=[live] if live else [],
        display=live,
        run_id=run_id,
        integrity=integrity,
        **overrides,
    )
    resumed = run_async(go, transcript_hint=path)
    result = resumed.result
    if as_json:
        report = {
            **_report(spec, result, expected),
            "resumed_from": str(resume),
            "calls_from_transcript": resumed.reused_calls,
        }
        print(json.dumps(report))
        return
    out.print(f"resumed {resume}: {resumed.reused_calls} recorded call(s) reused", markup=False, soft_wrap=True)
    _print_run(spec, result, expected)
