"""The ``hch`` command: run questions through HCH trees, evaluate, audit.

Each command is a thin layer: it turns flags into library calls, prints the
result (or one JSON object with ``--json``), and turns the library's errors
into a one-line message and an exit code: 2 for bad input, 1 for a run that
failed, 130 for an interrupted one.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from hch.console import ProgressLine
from hch.errors import HCHError, UsageError
from hch.evaluate import evaluate, instances
from hch.executor import DEFAULT_MAX_SUBQUESTIONS, RunResult, default_transcript_path, new_run_id, run_question
from hch.human.build import check_mode, has_people, parse_depths
from hch.human.console import NO_TTY, stdin_is_tty
from hch.paths import transcripts_dir
from hch.runtime import open_run
from hch.spec import RunSpec, TaskSpec, check_bounds, needs_llm
from hch.tasks import ALL_TASKS, Instance, find_task, load_instances
from transcripts.reader import TranscriptError

app = typer.Typer(
    name="hch",
    help="Amplification and HCH (Humans Consulting HCH): run, evaluate and audit question trees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

T = TypeVar("T")


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def run_async(make: Callable[[], Coroutine[Any, Any, T]], *, transcript_hint: Path | None = None) -> T:
    """Run a coroutine, mapping the library's failures to one-line errors."""
    try:
        return asyncio.run(make())
    except UsageError as exc:
        fail(str(exc), 2)
    except TranscriptError as exc:
        fail(str(exc), 2)
    except HCHError as exc:
        # A run that failed before it began (say, a model server that would not start) left no transcript.
        hint = transcript_hint if transcript_hint is not None and transcript_hint.exists() else None
        where = f" (transcript of what finished: {hint})" if hint else ""
        fail(f"{exc}{where}", 1)
    except KeyboardInterrupt:
        hint = transcript_hint if transcript_hint is not None and transcript_hint.exists() else None
        where = f"; transcript of what finished: {hint}" if hint else ""
        fail(f"interrupted{where}", 130)


# Options shared by run and eval.
DepthOpt = Annotated[int, typer.Option("--depth", "-d", help="Tree depth k: the tree is Amp^k(M0).")]
BudgetOpt = Annotated[
    int | None, typer.Option("--budget", "-b", help="Most calls (nodes worked) the whole tree may spend.")
]
MaxSubOpt = Annotated[int, typer.Option("--max-subquestions", help="Most subquestions one node may ask.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the display.")]
TaskOpt = Annotated[str | None, typer.Option("--task", "-t", help="Algorithmic task (see `hch tasks`).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the generated instance(s).")]
SizeOpt = Annotated[int, typer.Option("--size", help="Elements in a generated instance.")]


def _task_cases(
    task_name: str | None, facts: Path | None, question: str | None, seed: int, size: int
) -> list[Instance]:
    """The task instances a `run` asks for: generated, or read from a facts file."""
    if facts is not None:
        cases = load_instances(facts)
        if task_name is not None and any(c.task != task_name for c in cases):
            raise UsageError(f"{facts}: holds task {cases[0].task!r}, but --task {task_name} was given")
        if question is not None:
            task = find_task(cases[0].task)
            task.parse_question(cases[0].facts, question)
            cases = [Instance(task=cases[0].task, facts=cases[0].facts, question=question)]
        return cases
    assert task_name is not None
    task = find_task(task_name)
    if size < 1:
        raise UsageError(f"--size must be at least 1, got {size}")
    case = task.generate(random.Random(seed), size)
    if question is not None:
        task.parse_question(case.facts, question)
        case = Instance(task=case.task, facts=case.facts, question=question)
    return [case]


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
        "transcript": str(result.transcript),
    }


def _print_run(spec: RunSpec, result: RunResult, expected: str | None) -> None:
    out.print(f"[bold]question[/]  {escape(spec.question)}")
    out.print(f"[bold]answer[/]    {escape(result.answer)}")
    if expected is not None:
        mark = "[green]match[/]" if result.answer == expected else "[red]MISMATCH[/]"
        out.print(f"[bold]expected[/]  {escape(expected)}  {mark}")
    out.print(
        f"depth {spec.depth} · nodes {result.nodes} · calls {result.calls} · "
        f"reused {result.counts.get('reuse', 0)} · budget spent {result.spent}"
        + (f" of {spec.budget}" if spec.budget is not None else "")
    )
    out.print(f"[bold]transcript[/] {escape(str(result.transcript))}")


async def _execute(spec: RunSpec, path: Path, run_id: str, live: ProgressLine | None) -> RunResult:
    """Build the tree ``spec`` describes (opening its model client) and run its question, writing ``path``."""
    notify = partial(err.print, markup=False) if err.is_terminal else None
    async with open_run(spec, notify=notify) as opened:
        with live or nullcontext():
            return await run_question(
                opened.model,
                spec.question,
                transcript=path,
                budget=spec.budget,
                max_subquestions=spec.max_subquestions,
                settings={"spec": spec.model_dump(mode="json"), **opened.header},
                prompts=opened.prompts,
                listeners=[live] if live else [],
                run_id=run_id,
            )


OverseerOpt = Annotated[
    str | None,
    typer.Option(
        "--overseer",
        help="Who works the overseer nodes: program (the task's, the default with --task), llm (the default "
        "otherwise), or human (you, at this terminal: ask subquestions, read their answers, answer).",
    ),
]
HumanDepthsOpt = Annotated[
    str | None,
    typer.Option(
        "--human-depths",
        help="Depths a person works, e.g. 0,1 (0 is the root, DEPTH the leaves; 'all' is every node, a fully "
        "human tree); --overseer works the others. Human nodes queue for the terminal while the rest runs.",
    ),
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        help="How a person works a node: direct; augmented (the LLM drafts each step, you take it with ok, "
        "edit it, or type your own); approval (the LLM works the node, you approve each step with y or "
        "reject it with n REASON and it tries again).",
    ),
]


# Options of the model (when an LLM works, answers or drafts any node).
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Model name at the endpoint (default $HCH_MODEL). With neither a model nor an endpoint, the "
        "embedded offline model (SmolLM2-135M) is started.",
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (default $HCH_BASE_URL, "
        "$OPENAI_BASE_URL, else OpenAI's when a model is given).",
    ),
]
ApiKeyEnvOpt = Annotated[
    str | None, typer.Option("--api-key-env", help="Environment variable holding the API key (default OPENAI_API_KEY).")
]
TemperatureOpt = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (default 0).")]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help="Most tokens per model reply.")]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", help="Most model calls in flight at once (default 4; embedded 1).")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the model-call cache.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Seconds one model-call attempt may take.")]
MaxAttemptsOpt = Annotated[
    int | None, typer.Option("--max-attempts", help="Attempts per model call, retries of transient failures included.")
]
StructuredOpt = Annotated[
    str,
    typer.Option(
        "--structured-output",
        help="How model replies are constrained: auto (json_object_schema for the embedded model, json_schema "
        "otherwise), json_schema, json_object_schema (llama-cpp-python), json_object, or text (no "
        "response_format: for servers that reject it).",
    ),
]


def _llm_fields(
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
) -> dict[str, Any]:
    """RunSpec fields for the model, from the flags and the environment (UsageError if they are bad)."""
    from hch.llm.embedded import is_embedded, resolve_settings
    from hch.llm.overseer import STRUCTURED_OUTPUTS

    settings = resolve_settings(
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        concurrency=concurrency,
        cache=False if no_cache else None,
        timeout_s=timeout,
        max_attempts=max_attempts,
    )
    output = structured_output
    if output == "auto":
        output = "json_object_schema" if is_embedded(settings) else "json_schema"
    if output not in STRUCTURED_OUTPUTS:
        raise UsageError(f"--structured-output {structured_output!r}: choose auto, {', '.join(STRUCTURED_OUTPUTS)}")
    return {"llm": settings.public(), "structured_output": output}


def _who_works(
    overseer: str | None, human_depths: str | None, mode: str, depth: int, free_text: bool
) -> dict[str, Any]:
    """RunSpec fields saying who works the nodes, from --overseer, --human-depths and --mode."""
    chosen = overseer or ("llm" if free_text else "program")
    if chosen not in ("program", "llm", "human"):
        raise UsageError(f"--overseer {chosen!r}: choose program, llm or human")
    if chosen == "program" and free_text:
        raise UsageError("--overseer program needs --task or --facts (free-text questions need llm or human)")
    depths = parse_depths(human_depths, depth) if human_depths is not None else []
    human_mode = check_mode(mode)
    if human_mode != "direct" and chosen != "human" and not depths:
        raise UsageError(f"--mode {human_mode} is how a person works a node: add --overseer human or --human-depths")
    return {"overseer": chosen, "human_depths": depths, "human_mode": human_mode}


@app.command()
def run(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question (optional with --task or --facts).")] = None,
    depth: DepthOpt = 3,
    budget: BudgetOpt = None,
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
    structured_output: StructuredOpt = "auto",
    transcript: Annotated[
        Path | None, typer.Option("--transcript", help="Where to write the transcript (default under $HCH_HOME).")
    ] = None,
    as_json: JsonOpt = False,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue a killed run from its transcript (question and flags come from it)."),
    ] = None,
) -> None:
    """Run a question through a depth-k HCH tree and print its answer."""
    if resume is not None:
        _resume_run(ctx, resume, transcript, as_json)
        return
    try:
        check_bounds(depth, budget, max_subquestions)
        who = _who_works(overseer, human_depths, mode, depth, task is None and facts is None)
        if task is None and facts is None:
            if question is None:
                raise UsageError("give a QUESTION, or --task NAME, or --facts FILE")
            specs: list[tuple[RunSpec, str | None]] = [
                (
                    RunSpec(question=question, depth=depth, budget=budget, max_subquestions=max_subquestions, **who),
                    None,
                )
            ]
        else:
            task_seed = 0 if seed is None else seed
            cases = _task_cases(task, facts, question, task_seed, size)
            specs = [
                (
                    RunSpec(
                        question=c.question,
                        depth=depth,
                        budget=budget,
                        max_subquestions=max_subquestions,
                        task=TaskSpec(name=c.task, facts=c.facts, seed=task_seed if facts is None else None, size=size),
                        **who,
                    ),
                    find_task(c.task).solve(c.facts, c.question),
                )
                for c in cases
            ]
        if any(needs_llm(spec) for spec, _ in specs):
            llm = _llm_fields(
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
            specs = [(spec.model_copy(update=llm) if needs_llm(spec) else spec, e) for spec, e in specs]
    except UsageError as exc:
        fail(str(exc), 2)
    if transcript is not None and len(specs) > 1:
        fail("--transcript names one file, but the facts file holds several questions", 2)
    people = has_people(specs[0][0])
    if people and not stdin_is_tty():
        fail(NO_TTY, 2)

    reports = []
    for spec, expected in specs:
        run_id = new_run_id()
        path = transcript or default_transcript_path(run_id)
        # A person at the terminal gets the screen: no live progress line under the prompt.
        live = ProgressLine(err) if not as_json and err.is_terminal and not people else None
        result = run_async(partial(_execute, spec, path, run_id, live), transcript_hint=path)
        if as_json:
            reports.append(_report(spec, result, expected))
        else:
            _print_run(spec, result, expected)
    if as_json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports))


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Option("--task", "-t", help="Algorithmic task (see `hch tasks`).")],
    depth: Annotated[
        list[int], typer.Option("--depth", "-d", help="Tree depth; repeat for a table of accuracy against depth.")
    ],
    n: Annotated[int, typer.Option("--n", help="Random instances per depth.")] = 100,
    seed: SeedOpt = 0,
    size: SizeOpt = 64,
    budget: BudgetOpt = None,
    max_subquestions: MaxSubOpt = DEFAULT_MAX_SUBQUESTIONS,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy of depth-k trees on N random instances, scored by an independent solver."""
    try:
        the_task = find_task(task)
        for d in depth:
            check_bounds(d, budget, max_subquestions)
        if n < 1:
            raise UsageError(f"--n must be at least 1, got {n}")
        if size < 1:
            raise UsageError(f"--size must be at least 1, got {size}")
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


@app.command()
def tasks() -> None:
    """List the algorithmic tasks, their question syntax and facts format."""
    for t in ALL_TASKS:
        out.rule(f"[bold]{t.name}[/]")
        out.print(t.summary)
        out.print(f"[bold]question[/] {t.question_format}")
        out.print(f"[bold]facts[/]    {t.facts_format}")
    out.print("\nRun one: hch run --task NAME --depth K   ·   your own instance: hch run --facts FILE (docs/tasks.md)")


# -- audit: schema, replay, verify, show, diff, export, and run --resume ----------


TranscriptArg = Annotated[Path, typer.Argument(help="A transcript (.jsonl) written by `hch run`.")]


def _read(path: Path) -> Any:
    from transcripts.reader import read_transcript

    try:
        return read_transcript(path)
    except TranscriptError as exc:
        fail(str(exc), 2)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the transcript format (docs/transcript-schema.json)."""
    from transcripts.schema import schema_text

    print(schema_text(), end="")


@app.command()
def replay(
    transcript: TranscriptArg,
    out_path: Annotated[
        Path | None,
        typer.Option("--transcript", help="Where to write the replay's transcript (default under $HCH_HOME)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-execute a run offline from its transcript and say whether every node matches.

    Recorded model responses, oracle answers and human inputs are fed back by
    tree position and request hash; nothing reaches the network or the
    terminal. Exit 0 and "identical", or exit 1 naming the first divergent
    node with what was expected and what was produced.
    """
    from hch.replay import offline_model, replay_transcript, spec_of
    from transcripts.verify import verify_transcript

    original = _read(transcript)
    if original.end is None:
        fail(f"{original.cut}: a replay compares with a finished run; resume this one with `hch run --resume`", 2)
    try:
        spec_of(original)
        check = verify_transcript(transcript)
        if not check.ok:
            err.print(f"note: the file fails verification: {check.summary()}; replaying it as it is", markup=False)
    except TranscriptError as exc:
        fail(str(exc), 2)

    async def go() -> Any:
        async with offline_model(original) as (model, prompts, guard):
            return await replay_transcript(original, model, transcript=out_path, prompts=prompts, guard=guard)

    report = run_async(go)
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
        for d in report.diff.roots()[1:6]:
            out.print(
                f"  also node {d.node_id} ({d.what}): expected {d.expected}; produced {d.produced}",
                markup=False,
                soft_wrap=True,
            )
        out.print(f"replay transcript: {report.replayed.path}", markup=False, soft_wrap=True)
    if not report.identical:
        raise typer.Exit(1)


@app.command()
def verify(
    transcript: TranscriptArg,
    head: Annotated[str | None, typer.Option("--head", help="The last line's hash the file must end with.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a transcript's hash chain: detect edited, reordered, truncated or spliced files.

    Exit 0 when intact, 1 naming the line of the first problem, 2 when the
    file is not a transcript.
    """
    from transcripts.verify import verify_transcript

    try:
        report = verify_transcript(transcript, expect_head=head)
    except TranscriptError as exc:
        fail(str(exc), 2)
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def show(
    transcript: TranscriptArg,
    node: Annotated[
        str | None, typer.Option("--node", help="Show one node in full: prompts, responses, calls.")
    ] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Draw the tree this many levels deep.")] = None,
) -> None:
    """Draw a run's tree: each node's question, answer, who worked it, calls, tokens and time."""
    from transcripts.show import render_node, render_tree

    t = _read(transcript)
    try:
        out.print(render_node(t, node) if node is not None else render_tree(t, max_depth=max_depth))
    except UsageError as exc:
        fail(str(exc), 2)


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="The first transcript.")],
    b: Annotated[Path, typer.Argument(help="The second transcript (same question).")],
    limit: Annotated[int, typer.Option("--limit", help="Most differing nodes to list.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Align two runs of the same question node by node and show where they differ (exit 1 if they do)."""
    from transcripts.diff import diff_runs
    from transcripts.show import render_diff

    ta, tb = _read(a), _read(b)
    result = diff_runs(ta, tb)
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        out.print(render_diff(result, limit=limit))
    if not result.identical:
        raise typer.Exit(1)


@app.command()
def export(
    transcript: TranscriptArg,
    html_path: Annotated[Path, typer.Option("--html", help="The HTML file to write.")],
) -> None:
    """Write a run as one self-contained HTML page: collapsible tree, node details, search."""
    from transcripts.html import write_html

    t = _read(transcript)
    try:
        size = write_html(t, html_path)
    except UsageError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{html_path}: cannot write: {exc.strerror or exc}", 2)
    out.print(f"wrote {html_path} ({size} bytes, {sum(1 for _ in t.events)} events)", markup=False)


_RESUME_ALLOWED = {"transcript", "as_json", "resume"}


def _resume_run(ctx: typer.Context, resume: Path, transcript: Path | None, as_json: bool) -> None:
    """`hch run --resume`: continue a cut run; the question and flags come from its header."""
    from hch.replay import check_resume_flags, live_model, resume_run, spec_of

    original = _read(resume)
    given = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if name not in _RESUME_ALLOWED and source is not None and source.name != "DEFAULT":
            given[name] = value
    try:
        spec = spec_of(original)
        overrides = check_resume_flags(spec, given, resume)
    except (UsageError, TranscriptError) as exc:
        fail(str(exc), 2)
    expected = find_task(spec.task.name).solve(spec.task.facts, spec.question) if spec.task is not None else None
    run_id = new_run_id()
    path = transcript or default_transcript_path(run_id)
    live = ProgressLine(err) if not as_json and err.is_terminal and not has_people(spec) else None

    async def go() -> Any:
        async with live_model(original, **overrides) as (model, prompts):
            with live or nullcontext():
                return await resume_run(
                    original, model, transcript=path, prompts=prompts, listeners=[live] if live else [], run_id=run_id
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


# -- the model-call cache ------------------------------------------------------

cache_app = typer.Typer(
    name="cache",
    help="The model-call cache under $HCH_HOME/cache: where it is, what it holds, and emptying it.",
    no_args_is_help=True,
)
app.add_typer(cache_app)


@cache_app.command("path")
def cache_path() -> None:
    """Print the cache directory."""
    from hch.llm.cache import CallCache

    print(CallCache().path)


@cache_app.command("stats")
def cache_stats(as_json: JsonOpt = False) -> None:
    """Entries in the cache and its size on disk."""
    from hch.llm.cache import CallCache

    async def go() -> Any:
        cache = CallCache()
        try:
            return await cache.stats()
        finally:
            await cache.aclose()

    stats = run_async(go)
    if as_json:
        print(json.dumps({"path": str(stats.path), "entries": stats.entries, "size_bytes": stats.size_bytes}))
        return
    out.print(f"{stats.path}: {stats.entries} entries, {stats.size_bytes / 1e6:.1f} MB", markup=False, soft_wrap=True)


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every entry (later runs call the model again)."""
    from hch.llm.cache import CallCache

    async def go() -> int:
        cache = CallCache()
        try:
            return await cache.clear()
        finally:
            await cache.aclose()

    removed = run_async(go)
    out.print(f"removed {removed} entries from {CallCache().path}", markup=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
