"""``hch amplify``, ``hch distill`` and ``hch iterate``: imitative amplification."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
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
    flag,
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
    from hch.app.spec import DistilledSpec, RunSpec

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
    from hch.app.spec import needs_llm

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


def distilled_spec(name: str, task: str | None, k: int = 4) -> DistilledSpec:
    """M_{t+1} distilled from dataset ``name`` (of ``task``), pinned by its current digest.

    A task dataset gives the memorising stand-in learner; a free-text one the
    in-context distilled model (the base LLM shown the ``k`` most similar examples).
    """
    from hch.app.spec import DistilledSpec
    from operators.dataset import open_dataset
    from operators.imitative.examples import ImitationExample
    from operators.paths import check_name, dataset_dir

    dataset = open_dataset(dataset_dir(check_name(name)))
    dataset.examples(ImitationExample, task=task)  # strict: kind, task, digest, every line
    sha256 = dataset.manifest.examples_sha256
    if dataset.manifest.task is not None:
        return DistilledSpec(kind="memorising", dataset=name, sha256=sha256)
    return DistilledSpec(kind="in_context", dataset=name, sha256=sha256, k=k)


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

    from hch.app.spec import check_bounds
    from hch.executor import new_run_id
    from hch.human.build import has_people
    from hch.human.console import NO_TTY, stdin_is_tty
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
    # A person works one question's tree at a time (each run has its terminal); the tree's branches still overlap.
    people = any(has_people(s) for s in specs)
    if people and not stdin_is_tty():
        fail(NO_TTY, 2)

    async def go() -> Any:
        from operators.batch import open_batch

        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal or people)
        with progress:
            bar = progress.add_task("amplify", total=len(specs))
            async with open_batch(specs, notify=lambda m: err.print(m, markup=False)) as batch:
                return await run_amplify(
                    specs,
                    writer,
                    batch=batch,
                    settings=settings,
                    on_result=lambda _r: progress.advance(bar),
                    max_open_runs=1 if people else None,
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
    if hasattr(report, "full_depth"):
        title = (
            f"iterated amplification: {s.task}, {s.n} questions of size {s.size} (seed {s.seed}), "
            f"depth-{s.depth} amplification, {report.training_questions} training questions"
        )
    else:
        title = f"iterated amplification: {len(s.questions)} free-text questions, depth-{s.depth}, k={s.k}"
    table = Table(title=title)
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
    if hasattr(report, "full_depth"):
        table.caption = (
            f"full-depth HCH (depth {report.full_depth}): accuracy {_pct(report.full_depth_accuracy)}, "
            f"{report.full_depth_calls_per_question:.1f} calls per question"
        )
    return table


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def iterate(
    task: TaskOpt = None,
    questions: QuestionsOpt = None,
    rounds: Annotated[int, typer.Option("--rounds", "-r", help="Rounds of amplify and distil.")] = 6,
    depth: Annotated[int, typer.Option("--depth", "-d", help="Depth of each round's amplification tree.")] = 1,
    n: NOpt = 20,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    k: Annotated[int, typer.Option("--k", help="Free text: examples the in-context model is shown.")] = 4,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the run (its datasets are NAME-r1, NAME-r2, ...).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run called --name from its last finished round.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML page with the curve.")
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
    as_json: JsonOpt = False,
) -> None:
    """Alternate amplify (a depth-1 tree over M_t) and distil (M_{t+1}), measuring each round.

    On a task the distilled model is a memorising stand-in learner: it does not generalise, so the training
    questions are the sampled questions and every subquestion of their full-depth trees, and accuracy is
    against the task's solver. On free text (--questions) it is the in-context distilled model (docs/operators.md).
    """
    from rich.progress import Progress

    from hch.executor import new_run_id
    from operators.batch import open_batch
    from operators.paths import check_name

    if resume and name is None:
        fail("--resume continues a named run: give --name NAME", 2)
    if report is not None and report.exists():
        fail(f"--report {report} already exists; it is never overwritten", 2)
    try:
        qs = operator_questions(task, n, seed, size, questions)
        run_name = check_name(name or f"iterate-{task or 'free'}-{new_run_id()}")
        llm: dict[str, Any] = {}
        if qs.task is None:
            llm = llm_fields(
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
        settings = _iterate_settings(qs, run_name, rounds, depth, seed, size, k, max_subquestions, llm)
    except (UsageError, ValueError) as exc:
        fail(str(exc).splitlines()[0], 2)
    show = not as_json and out.is_terminal

    async def go() -> Any:
        from rich.live import Live

        live = Live(console=out, auto_refresh=False) if show else None
        progress = Progress(console=err, transient=True, disable=as_json or not err.is_terminal)
        bar = progress.add_task("iterate", total=None)
        hooks: dict[str, Any] = {
            "on_round": (lambda r: live.update(_round_table(r), refresh=True)) if live is not None else None,
            "on_stage": lambda label, total: progress.reset(bar, total=total, description=label),
            "on_result": lambda _r: progress.advance(bar),
        }
        client_settings = _client_settings(llm)
        with progress, live if live is not None else nullcontext():
            async with open_batch([], settings=client_settings, notify=lambda m: err.print(m, markup=False)) as batch:
                return await _run_iterate(settings, batch, resume, hooks)

    done = run_async(go)
    if report is not None:
        from operators.imitative.report import write_report

        write_report(done.as_json(), report)
    if as_json:
        print(json.dumps(done.as_json()))
        return
    if not show:
        out.print(_round_table(done))
    out.print(
        f"runs: {done.folder} · datasets: {settings.name}-r1 .. {settings.name}-r{len(done.rounds)}", markup=False
    )
    if report is not None:
        out.print(f"report: {report}", markup=False)


def _iterate_settings(
    qs: Any, name: str, rounds: int, depth: int, seed: int, size: int, k: int, max_sub: int, llm: dict[str, Any]
) -> Any:
    from operators.imitative.free import FreeIterateSettings
    from operators.imitative.iterate import IterateSettings

    if qs.task is not None:
        return IterateSettings(
            name=name, task=qs.task.name, n=len(qs), seed=seed, size=size, rounds=rounds, depth=depth
        )
    return FreeIterateSettings(
        name=name,
        questions=qs.texts,
        references=[q.reference for q in qs.free],
        rounds=rounds,
        depth=depth,
        max_subquestions=max_sub,
        k=k,
        **llm,
    )


def _client_settings(llm: dict[str, Any]) -> Any:
    return llm.get("llm")


async def _run_iterate(settings: Any, batch: Any, resume: bool, hooks: dict[str, Any]) -> Any:
    from operators.imitative.free import FreeIterateSettings, iterate_free
    from operators.imitative.iterate import iterate as iterate_task

    if isinstance(settings, FreeIterateSettings):
        return await iterate_free(settings, batch=batch, resume=resume, label=flag, **hooks)
    return await iterate_task(settings, batch=batch, resume=resume, label=flag, **hooks)


def distill(
    dataset: Annotated[
        str | None, typer.Argument(help="The distillation dataset (from `hch amplify` or `hch iterate`).")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Examples the in-context model is shown per question.")] = 4,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="chat: also write a chat fine-tuning JSONL file (OpenAI's and TRL's format)."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Where to write the --format file.")] = None,
    submit: Annotated[
        bool, typer.Option("--submit", help="Upload the chat file and create a fine-tuning job at the endpoint.")
    ] = False,
    status: Annotated[
        str | None, typer.Option("--status", help="Print the state of a fine-tuning job created by --submit.")
    ] = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Produce M_{t+1} from a dataset: the model a run's spec names, a chat JSONL file, or a fine-tuning job.

    On a task dataset M_{t+1} is the memorising stand-in learner (it memorises and does not generalise); on a
    free-text one, the in-context distilled model. Use it with `hch amplify --distilled DATASET`.
    """
    from rich.markup import escape

    from operators.dataset import open_dataset
    from operators.imitative import finetune

    if status is not None or submit:
        try:
            from hch.llm.embedded import resolve_settings

            settings = resolve_settings(
                model=model, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout, label=flag
            )
        except UsageError as exc:
            fail(str(exc), 2)
    if status is not None:
        job = run_async(lambda: finetune.status(settings, status))
        _print_job(job.as_json(), as_json)
        return
    if dataset is None:
        fail("give a DATASET to distil (or --status JOB)", 2)
    if (submit or fmt is not None) and output is None:
        fail("--format and --submit write a file: give --out FILE", 2)
    if fmt not in (None, "chat"):
        fail(f"--format {fmt!r}: choose chat", 2)
    try:
        opened = open_dataset(dataset)
        spec = distilled_spec(opened.name, opened.manifest.task, k)
    except UsageError as exc:
        fail(str(exc), 2)
    report: dict[str, Any] = {"dataset": opened.name, "distilled": spec.model_dump()}
    if output is not None:
        report["chat"] = _write_chat(opened, output)
    if submit:
        assert output is not None
        job = run_async(lambda: finetune.submit(settings, output, model=settings.model))
        report["job"] = job.as_json()
    if as_json:
        print(json.dumps(report))
        return
    what = "memorising stand-in learner" if spec.kind == "memorising" else f"in-context model (k={spec.k})"
    out.print(f"M_(t+1): {what} distilled from {escape(opened.name)} (sha256 {spec.sha256[:16]}...)")
    out.print(f"use it:  hch amplify --distilled {escape(opened.name)} ...")
    if "chat" in report:
        out.print(escape(report["chat"]["summary"]))
    if "job" in report:
        _print_job(report["job"], False)


def _write_chat(dataset: Any, output: Path) -> dict[str, Any]:
    from operators.imitative.chat import embedded_tokenizer, validate_chat_file, write_chat_file
    from operators.imitative.examples import ImitationExample

    if output.exists():
        fail(f"--out {output} already exists; it is never overwritten", 2)
    try:
        written = write_chat_file(dataset.examples(ImitationExample), output)
    except UsageError as exc:
        fail(str(exc), 2)
    tokenizer = embedded_tokenizer()
    checked = validate_chat_file(output, *(tokenizer or (None, "")))
    return {"out": str(output), "examples": written, "summary": checked.summary(), **checked.as_json()}


def _print_job(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"job": job}))
        return
    line = f"fine-tuning job {job['id']}: {job['status']} (model {job['model']})"
    if job.get("fine_tuned_model"):
        line += f"; fine-tuned model {job['fine_tuned_model']}"
    if job.get("error"):
        line += f"; error: {job['error']}"
    out.print(line, markup=False, soft_wrap=True)
    if job["status"] not in ("succeeded", "failed", "cancelled"):
        out.print(f"poll it with: hch distill --status {job['id']}", markup=False)
