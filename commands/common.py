"""What the ``hch`` commands share: the consoles, one-line errors, running a
coroutine with the library's failures mapped to exit codes, and the flags that
several commands take (tree bounds, task instances, who works the nodes, the
model endpoint).

Flag names live here and in the command modules, never in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer

from hch.errors import HCHError, UsageError
from hch.limits import MAX_BUDGET, MAX_DEPTH, MAX_INSTANCES, MAX_SIZE, MAX_SUBQUESTIONS, MAX_TOKEN_BUDGET

# Only the names the flags need are imported here: the library is imported inside the
# commands, so that `hch --help` does not load the engine, pydantic or the OpenAI SDK
# (tests/test_startup.py checks it).
if TYPE_CHECKING:
    from rich.console import Console

    from hch.app.options import ModelOptions
    from operators.questions import QuestionSet


class _LazyConsole:
    """A :class:`~hch.text.TextConsole` built on first use (importing rich is a good part of `hch --help`'s time).

    Text consoles: whatever they print (answers, questions, error bodies) cannot control the terminal.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from hch.text import TextConsole

            self._console = TextConsole(**self._options)
        return getattr(self._console, name)


APP: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    # Plain help and usage errors: rendering them with rich loads rich's markdown
    # parser, a third of `hch --help`'s time.
    "rich_markup_mode": None,
}
"""How every app of the command line is made: the ``hch`` group's, each command's (cli.py)
and the groups of commands (``hch cache``, ``hch dataset``)."""

out = cast("Console", _LazyConsole())
err = cast("Console", _LazyConsole(stderr=True))

T = TypeVar("T")


def fail(message: str, code: int) -> NoReturn:
    from rich.markup import escape

    from hch.text import visible

    # One line, whatever a server or a file put in the message.
    err.print(f"[bold red]error:[/] {escape(visible(message, one_line=True))}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def run_async(make: Callable[[], Coroutine[Any, Any, T]], *, transcript_hint: Path | None = None) -> T:
    """Run a coroutine, mapping the library's failures to one-line errors.

    The coroutine's result is handed back through a box rather than as the main
    task's result: on the way out ``asyncio.run`` restores the SIGINT handler, and
    Python 3.11 then builds the repr of the old one, which holds the main task and
    so its result (a replay report with two whole transcripts, say).
    """
    import asyncio

    from hch.collector import collector_tuned
    from transcripts.reader import TranscriptError

    box: list[T] = []

    async def main() -> None:
        box.append(await make())

    try:
        with collector_tuned():
            asyncio.run(main())
        return box[0]
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
DepthOpt = Annotated[
    int, typer.Option("--depth", "-d", help=f"Tree depth k: the tree is Amp^k(M0) (0 to {MAX_DEPTH:,}).")
]
BudgetOpt = Annotated[
    int | None,
    typer.Option("--budget", "-b", help=f"Most calls (nodes worked) the whole tree may spend (1 to {MAX_BUDGET:,})."),
]
TokenBudgetOpt = Annotated[
    int | None,
    typer.Option(
        "--token-budget",
        help=f"Most model tokens the whole tree may spend, prompts and replies (1 to {MAX_TOKEN_BUDGET:,}; "
        "needs --max-tokens for a model; docs/budgets.md).",
    ),
]
MaxSubOpt = Annotated[
    int, typer.Option("--max-subquestions", help=f"Most subquestions one node may ask (1 to {MAX_SUBQUESTIONS:,}).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the display.")]
TaskOpt = Annotated[str | None, typer.Option("--task", "-t", help="Algorithmic task (see `hch tasks`).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the generated instance(s).")]
SizeOpt = Annotated[int, typer.Option("--size", help=f"Elements in a generated instance (1 to {MAX_SIZE:,}).")]


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
        "edit it, or type your own); review (the LLM works the node, you approve each step with y or "
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
    int | None,
    typer.Option(
        "--concurrency",
        help="Most model calls in flight at once (default 32 for an endpoint given by URL; 1 for the embedded "
        "model, its server's slot count); lowered for a while when the endpoint answers 429 (rate limited).",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the model-call cache.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Seconds one model-call attempt may take.")]
MaxAttemptsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-attempts",
        help="Failed attempts after which a model call gives up (default 6); 429s (rate limited) do not count: "
        "they are bounded by --max-wait.",
    ),
]
MaxWaitOpt = Annotated[
    float | None,
    typer.Option(
        "--max-wait",
        help="Most seconds one model call may spend waiting between attempts, a server's Retry-After included "
        "(default 60).",
    ),
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


def flag(name: str) -> str:
    """How the command line names the library's option ``name`` (``max_subquestions`` -> ``--max-subquestions``).

    The library's errors name options through it (:data:`hch.errors.Label`).
    """
    return "QUESTION" if name == "question" else "--" + name.replace("_", "-")


def llm_fields(
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
    max_wait: float | None = None,
) -> dict[str, Any]:
    """RunSpec fields for the model, from the flags and the environment (UsageError if they are bad)."""
    from hch.app.options import model_fields

    return model_fields(
        model_options(
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
            max_wait=max_wait,
        ),
        label=flag,
    )


def model_options(
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
    max_wait: float | None = None,
) -> ModelOptions:
    """The model flags as the library's :class:`~hch.app.options.ModelOptions`."""
    from hch.app.options import ModelOptions

    return ModelOptions(
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
        max_wait_s=max_wait,
        structured_output=structured_output,
    )


def who_works(overseer: str | None, human_depths: str | None, mode: str, depth: int, free_text: bool) -> dict[str, Any]:
    """RunSpec fields saying who works the nodes, from --overseer, --human-depths and --mode."""
    from hch.app import options

    return options.who_works(overseer, human_depths, mode, depth, free_text, label=flag)


# Options every operator command (amplify, iterate, approve, rrm, debate, ...) takes:
# --task/--seed/--size/--n for generated questions (the same seed gives the same
# questions as `hch eval`), or --questions FILE for free text; the model options
# above; --json.
NOpt = Annotated[
    int,
    typer.Option(
        "--n", help=f"Questions: generated task instances (or the first N of --questions); 1 to {MAX_INSTANCES:,}."
    ),
]
QuestionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--questions",
        help='Free-text questions: a JSONL file, one object a line: {"question": "...", "reference": "..."} '
        "(reference optional).",
    ),
]


def operator_questions(task: str | None, n: int, seed: int, size: int, questions: Path | None) -> QuestionSet:
    """The questions an operator command's flags name (UsageError if they are bad).

    The model options are turned into RunSpec fields by :func:`llm_fields`, as for ``run``.
    """
    from operators.questions import question_set

    return question_set(task, n, seed, size, questions, limit_free=True, label=flag)


TranscriptArg = Annotated[Path, typer.Argument(help="A transcript (.jsonl) written by `hch run`.")]
TrustEditedOpt = Annotated[
    bool,
    typer.Option(
        "--trust-edited",
        help="Build on a transcript that fails `hch verify` (edited, reordered, spliced) anyway; the new "
        "transcript's header records that it came from an unverified file.",
    ),
]


def integrity_or_fail(original: Any, *, action: str, trust_edited: bool, report: Any = None) -> Any:
    """Verify the transcript ``action`` (replay, resume) builds on; a one-line error (exit 2) if it fails.

    ``report``: the file's verification from :func:`read_verified_or_fail` (else it is verified again).
    """
    from hch.app.integrity import check_integrity
    from transcripts.reader import TranscriptError

    try:
        return check_integrity(
            original, allow_cut=action == "resume", trust_edited=trust_edited, action=action, report=report
        )
    except TranscriptError as exc:
        fail(f"{exc} (--trust-edited to {action} it anyway)", 2)


def new_transcript_or_fail(path: Path | None) -> None:
    """A one-line error (exit 2) naming --transcript when ``path`` is no place for a new transcript
    (the library checks it again when it writes, naming the option without its flag)."""
    from hch.executor import check_new_transcript

    if path is not None:
        try:
            check_new_transcript(path, label=flag)
        except UsageError as exc:
            fail(str(exc), 2)


def read_verified_or_fail(path: Path, *, requests: bool = True) -> tuple[Any, Any]:
    """The transcript at ``path`` and its verification, from one reading of the file
    (``requests``: see transcripts.reader.parse_events); a one-line error (exit 2) if it
    cannot be read as a transcript."""
    from transcripts.reader import TranscriptError
    from transcripts.verify import read_verified

    try:
        return read_verified(path, requests=requests)
    except TranscriptError as exc:
        fail(str(exc), 2)


def read_transcript_or_fail(path: Path) -> Any:
    """The transcript at ``path``, or a one-line error (exit 2) saying why it cannot be read."""
    from transcripts.reader import TranscriptError, read_transcript

    try:
        return read_transcript(path)
    except TranscriptError as exc:
        fail(str(exc), 2)
