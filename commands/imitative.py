"""``hch amplify``, ``hch distill`` and ``hch iterate``: imitative amplification."""

from __future__ import annotations

import json
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
    OverseerOpt,
    QuestionsOpt,
    SeedOpt,
    SizeOpt,
    StructuredOpt,
    TaskOpt,
    TemperatureOpt,
    TimeoutOpt,
    err,
    fail,
    llm_fields,
    operator_questions,
    out,
    run_async,
    who_works,
)
from hch.defaults import DEFAULT_MAX_SUBQUESTIONS
from hch.errors import UsageError

# The library is imported inside the commands, so that `hch --help` does not load it
# (tests/test_startup.py).
if TYPE_CHECKING:
    from hch.spec import DistilledSpec, RunSpec

DatasetNameOpt = Annotated[
    str | None, typer.Option("--name", help="Name of the dataset to write under $HCH_HOME/datasets (default: new).")
]
DistilledOpt = Annotated[
    str | None,
    typer.Option(
        "--distilled",
        help="Amplify a distilled model M_t: the name of the dataset `hch distill` memorised (default: the base "
        "model M0, the task's lookup oracle or the LLM).",
    ),
]


def _model_fields(
    specs: list[RunSpec],
    *,
    model: str | None,
    base_url: str | None,
    api_key_env: str | None,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None,
    concurrency: int | None,
    no_cache: bool,
    timeout: float | None,
    max_attempts: int | None,
    structured_output: str,
) -> list[RunSpec]:
    """``specs`` with the model settings of the flags, where a spec needs a model."""
    from hch.spec import needs_llm

    if not any(needs_llm(s) for s in specs):
        return specs
    fields = llm_fields(
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
        structured_output=structured_output,
    )
    return [s.model_copy(update=fields) if needs_llm(s) else s for s in specs]


def distilled_spec(name: str, task: str | None) -> DistilledSpec:
    """The memorising model distilled from dataset ``name`` (of ``task``), pinned by its current digest."""
    from hch.spec import DistilledSpec
    from operators.dataset import open_dataset
    from operators.imitative.examples import ImitationExample
    from operators.paths import check_name, dataset_dir

    dataset = open_dataset(dataset_dir(check_name(name)))
    dataset.examples(ImitationExample, task=task)  # strict: kind, task, digest, every line
    return DistilledSpec(kind="memorising", dataset=name, sha256=dataset.manifest.examples_sha256)


def amplify(
    task: TaskOpt = None,
    n: NOpt = 20,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    questions: QuestionsOpt = None,
    depth: Annotated[int, typer.Option("--depth", "-d", help="Depth of Amp^k(M_t).")] = 1,
    budget: BudgetOpt = None,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    overseer: OverseerOpt = None,
    distilled: DistilledOpt = None,
    name: DatasetNameOpt = None,
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
    """Run Amp(M) over questions and write the distillation dataset (q, Amp(M)(q)) with each decomposition."""
    from rich.markup import escape
    from rich.progress import Progress

    from hch.executor import new_run_id
    from hch.spec import check_bounds
    from operators.imitative.amplify import amplify as run_amplify
    from operators.imitative.amplify import amplify_specs, dataset_writer
    from operators.imitative.metrics import score_runs
    from operators.paths import check_name, dataset_dir

    try:
        check_bounds(depth, budget, max_subquestions)
        qs = operator_questions(task, n, seed, size, questions)
        who = who_works(overseer, None, "direct", depth, qs.task is None)
        the_model = distilled_spec(distilled, task) if distilled is not None else None
        specs = amplify_specs(
            qs, depth=depth, budget=budget, max_subquestions=max_subquestions, distilled=the_model, **who
        )
        specs = _model_fields(
            specs,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed if questions is not None else None,
            concurrency=concurrency,
            no_cache=no_cache,
            timeout=timeout,
            max_attempts=max_attempts,
            structured_output=structured_output,
        )
        dataset_name = check_name(name or f"amplify-{task or 'free'}-{new_run_id()}")
        settings: dict[str, Any] = {
            "task": task,
            "n": len(specs),
            "seed": seed,
            "size": size if task else None,
            "depth": depth,
            "distilled": the_model.model_dump() if the_model else None,
        }
        writer = dataset_writer(dataset_dir(dataset_name), task=task, round=None, settings=settings)
    except UsageError as exc:
        fail(str(exc), 2)

    async def go() -> Any:
        from operators.batch import open_batch

        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal)
        with progress:
            bar = progress.add_task("amplify", total=len(specs))
            async with open_batch(specs, notify=lambda m: err.print(m, markup=False)) as batch:
                return await run_amplify(
                    specs, writer, batch=batch, settings=settings, on_result=lambda _r: progress.advance(bar)
                )

    amplified = run_async(go, transcript_hint=writer.transcripts)
    score = score_runs(amplified.results)
    report = {
        "dataset": amplified.dataset.name,
        "folder": str(amplified.dataset.folder),
        "examples": amplified.dataset.manifest.examples,
        "failed": len(amplified.failed),
        "depth": depth,
        **score.as_json(),
    }
    if as_json:
        print(json.dumps(report))
        return
    out.print(f"[bold]dataset[/]   {escape(amplified.dataset.name)}  ({escape(str(amplified.dataset.folder))})")
    out.print(f"examples  {report['examples']} of {len(specs)} question(s); failed runs {report['failed']}")
    if score.accuracy is not None:
        out.print(f"accuracy of Amp^{depth}(M) against the task's solver: {score.accuracy:.1%}")
    out.print(f"calls per question {score.calls_per_question:.2f}")
    for failed in amplified.failed[:3]:
        out.print(f"[red]failed[/] {escape(failed.spec.question)}: {escape(failed.error or '')}")


def _round_table(report: Any) -> Any:
    from rich.table import Table

    s = report.settings
    table = Table(
        title=f"iterated amplification: {s.task}, {s.n} questions of size {s.size} (seed {s.seed}), "
        f"depth-{s.depth} amplification, {report.training_questions} training questions"
    )
    for col in (
        "round",
        "Amp(M) accuracy",
        "distilled M accuracy",
        "agreement",
        "calls/q Amp(M)",
        "calls/q M",
        "≈ HCH depth",
    ):
        table.add_column(col, justify="right")
    for r in report.rounds:
        table.add_row(
            str(r.round),
            _pct(r.amplified_accuracy),
            _pct(r.distilled_accuracy),
            _pct(r.agreement),
            f"{r.calls_per_question:.2f}",
            f"{r.distilled_calls_per_question:.2f}",
            "" if r.hch_depth_equivalent is None else str(r.hch_depth_equivalent),
        )
    table.caption = (
        f"full-depth HCH (depth {report.full_depth}): accuracy {_pct(report.full_depth_accuracy)}, "
        f"{report.full_depth_calls_per_question:.1f} calls per question"
    )
    return table


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def iterate(
    task: Annotated[str, typer.Option("--task", "-t", help="Algorithmic task (see `hch tasks`).")],
    rounds: Annotated[int, typer.Option("--rounds", "-r", help="Rounds of amplify and distil.")] = 6,
    depth: Annotated[int, typer.Option("--depth", "-d", help="Depth of each round's amplification tree.")] = 1,
    n: NOpt = 20,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the run (its datasets are NAME-r1, NAME-r2, ...).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run called --name from its last finished round.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Alternate amplify (a depth-1 tree over M_t) and distil (M_{t+1}), measuring each round against the solver.

    The distilled model is a memorising stand-in learner: it does not generalise, so the training questions are
    the sampled questions and every subquestion of their full-depth trees (see docs/operators.md).
    """
    from rich.live import Live
    from rich.progress import Progress

    from hch.executor import new_run_id
    from operators.batch import open_batch
    from operators.imitative.iterate import IterateSettings
    from operators.imitative.iterate import iterate as run_iterate
    from operators.paths import check_name

    if resume and name is None:
        fail("--resume continues a named run: give --name NAME", 2)
    try:
        settings = IterateSettings(
            name=check_name(name or f"iterate-{task}-{new_run_id()}"),
            task=task,
            n=n,
            seed=seed,
            size=size,
            rounds=rounds,
            depth=depth,
        )
    except (UsageError, ValueError) as exc:
        fail(str(exc).splitlines()[0], 2)
    show = not as_json and out.is_terminal

    async def go() -> Any:
        live = Live(console=out, auto_refresh=False) if show else None
        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal)
        bar = progress.add_task("iterate", total=None)

        def on_round(report: Any) -> None:
            if live is not None:
                live.update(_round_table(report), refresh=True)

        def on_stage(label: str, total: int) -> None:
            progress.reset(bar, total=total, description=label)

        with progress:
            async with open_batch([]) as batch:
                if live is not None:
                    with live:
                        return await run_iterate(
                            settings,
                            batch=batch,
                            resume=resume,
                            on_round=on_round,
                            on_stage=on_stage,
                            on_result=lambda _r: progress.advance(bar),
                        )
                return await run_iterate(
                    settings, batch=batch, resume=resume, on_stage=on_stage, on_result=lambda _r: progress.advance(bar)
                )

    report = run_async(go)
    if as_json:
        print(json.dumps(report.as_json()))
        return
    if not show:
        out.print(_round_table(report))
    out.print(f"runs: {report.folder} · datasets: {settings.name}-r1 .. {settings.name}-r{len(report.rounds)}")
