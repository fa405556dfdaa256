"""``hch rrm``: recursive reward modeling, and ``--load`` to read a saved reward model back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from commands.approval import SAMPLE_TEMPERATURE
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
    err,
    fail,
    flag,
    llm_fields,
    operator_questions,
    out,
    run_async,
)
from hch.errors import UsageError

# The library is imported inside the commands, so that `hch --help` does not load it
# (tests/test_startup.py).
if TYPE_CHECKING:
    from rich.table import Table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for column in (
        "round",
        "feedback",
        "RM held-out",
        "agent acc",
        "roots",
        "overseer: assisted/alone",
        "hard: assisted/alone (n)",
        "reward gap",
    ):
        table.add_column(column, justify="right")
    return table


def _row(table: Table, report: Any) -> None:
    gap = report.reward_hacking_gap
    table.add_row(
        str(report.round),
        f"{report.feedback} ({report.feedback_total})",
        _pct(report.reward_model_heldout_accuracy),
        _pct(report.agent_accuracy),
        _pct(report.agent_root_accuracy),
        f"{_pct(report.overseer_accuracy)} / {_pct(report.unassisted_overseer_accuracy)}",
        f"{_pct(report.hard_overseer_accuracy)} / {_pct(report.hard_unassisted_overseer_accuracy)}"
        f" ({report.hard_judged})",
        "-" if gap is None else f"{gap:+.2f}",
    )


def _load(path: Path, pairs: Path | None, as_json: bool) -> None:
    """Read a saved reward model back (digest checked); with --pairs, score it on them."""
    from rich.markup import escape

    from operators.rrm.reward_model import Preference, load_reward_model, pairwise_accuracy

    try:
        model = load_reward_model(path)
        prefs: list[Preference] = []
        if pairs is not None:
            prefs = _read_pairs(pairs)
    except UsageError as exc:
        fail(str(exc), 2)
    accuracy = pairwise_accuracy(model, prefs) if prefs else None
    report = {
        "reward_model": str(path),
        "digest": model.digest,
        "kind": "bradley-terry-linear",
        "features": model.features.model_dump(mode="json"),
        "coefficients": len(model.coefficients),
        "training": model.training,
        "pairs": len(prefs),
        "pairwise_accuracy": accuracy,
        "scores": [
            {
                "prompt": p.question,
                "chosen": model.score(p.question, p.chosen),
                "rejected": model.score(p.question, p.rejected),
            }
            for p in prefs
        ],
    }
    if as_json:
        print(json.dumps(report))
        return
    out.print(f"[bold]reward model[/] {escape(str(path))} (digest verified: {model.digest[:23]}…)")
    out.print(
        f"features {', '.join(model.features.groups)} hashed to {model.features.n_features} · "
        f"{len(model.coefficients)} non-zero coefficients",
        markup=False,
    )
    for key in ("comparisons", "train", "heldout", "heldout_accuracy", "round", "task", "library"):
        if key in model.training:
            out.print(f"  {key}: {model.training[key]}", markup=False)
    if prefs:
        out.print(f"on {pairs}: {len(prefs)} pairs, chosen scored above rejected {_pct(accuracy)}", markup=False)


def _read_pairs(path: Path) -> list[Any]:
    """prompt/chosen/rejected lines (TRL's format, e.g. a feedback dataset's examples.jsonl)."""
    from operators.rrm.reward_model import Preference

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    found = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("prompt", "chosen", "rejected")
        ):
            raise UsageError(f"{path}:{lineno}: expected an object with string prompt, chosen and rejected")
        found.append(Preference(data["prompt"], data["chosen"], data["rejected"], f"{path.name}:{lineno}"))
    if not found:
        raise UsageError(f"{path}: holds no pairs")
    return found


def rrm(
    task: TaskOpt = None,
    n: NOpt = 10,
    seed: SeedOpt = 0,
    size: SizeOpt = 16,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds of feedback, fitting and optimising.")] = 3,
    candidates: Annotated[
        int, typer.Option("--candidates", help="n of the agent's best-of-n against the reward model.")
    ] = 4,
    noise: Annotated[
        float, typer.Option("--noise", help="Probability that one of the policy's candidates is wrong (tasks).")
    ] = 0.5,
    assist_depth: Annotated[
        int,
        typer.Option("--assist-depth", help="k: the overseer consults Amp^k(previous agent) (0: the agent itself)."),
    ] = 2,
    heldout: Annotated[
        float, typer.Option("--heldout", help="Fraction of the feedback held out to score the reward model.")
    ] = 0.2,
    overseer: Annotated[
        str, typer.Option("--overseer", help="Who gives the feedback: program (the task's) or human (you).")
    ] = "program",
    questions: QuestionsOpt = None,
    load: Annotated[
        Path | None, typer.Option("--load", help="Read a saved reward model back (checks its digest) and describe it.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option("--pairs", help="With --load: prompt/chosen/rejected JSONL to score the model on."),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue an interrupted run from its folder (settings from it).")
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
    """Recursive reward modeling: assisted feedback, a Bradley-Terry reward model, a best-of-n agent, repeated."""
    from hch.executor import new_run_id
    from hch.human.console import NO_TTY, stdin_is_tty
    from hch.paths import hch_home
    from operators.rrm.features import TEXT_GROUPS, FeatureSpec
    from operators.rrm.loop import RRMSettings

    if load is not None:
        _load(load, pairs, as_json)
        return
    try:
        if resume is not None:
            settings = _settings_of(resume)
            folder = resume
        else:
            if task is None and questions is None:
                raise UsageError("give --task NAME or --questions FILE (or --load FILE, or --resume FOLDER)")
            chosen = operator_questions(task, n, seed, size, questions)
            free: dict[str, Any] = {}
            if chosen.task is None:
                free = llm_fields(
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
                free["questions"] = chosen.free
                free["features"] = FeatureSpec(groups=list(TEXT_GROUPS))
            for name, value, low in (("--n", n, 1), ("--rounds", rounds, 1), ("--candidates", candidates, 2)):
                if value < low:
                    raise UsageError(f"{name} must be at least {low}, got {value}")
            if not 0.0 <= noise <= 1.0:
                raise UsageError(f"--noise must be between 0 and 1, got {noise}")
            if not 0.0 <= heldout < 1.0:
                raise UsageError(f"--heldout must be at least 0 and below 1, got {heldout}")
            if assist_depth < 0:
                raise UsageError(f"--assist-depth must be 0 or more, got {assist_depth}")
            if overseer not in ("program", "human"):
                raise UsageError(f"--overseer {overseer!r}: choose program or human")
            settings = RRMSettings(
                task=task,
                n=n,
                seed=seed,
                size=size,
                rounds=rounds,
                candidates=candidates,
                noise=noise,
                assist_depth=assist_depth,
                heldout_fraction=heldout,
                human=overseer == "human",
                **free,
            )
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            folder = hch_home() / "rrm" / f"rrm-{stamp}-{new_run_id()[:6]}"
    except UsageError as exc:
        fail(str(exc), 2)
    if settings.human and not stdin_is_tty():
        fail(NO_TTY, 2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(settings.model_dump_json(indent=1) + "\n", encoding="utf-8")
    _run(settings, folder, resume is not None, as_json)


def _settings_of(folder: Path) -> Any:
    from pydantic import ValidationError

    from operators.rrm.loop import RRMSettings

    path = folder / "settings.json"
    try:
        return RRMSettings.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--resume {folder}: no RRM run there ({path}: {exc.strerror or exc})") from None
    except ValidationError as exc:
        raise UsageError(f"{path}: not the settings of an RRM run ({exc.errors()[0]['msg']})") from None


def _run(settings: Any, folder: Path, resume: bool, as_json: bool) -> None:
    from rich.live import Live
    from rich.markup import escape

    from hch.human.console import HumanConsole
    from operators.batch import open_batch
    from operators.rrm.loop import RRM

    if settings.task is not None:
        title = f"RRM on {settings.task}: {settings.n} instances of size {settings.size}, best-of-{settings.candidates}"
    else:
        title = f"RRM on {min(settings.n, len(settings.questions))} free-text questions, best-of-{settings.candidates}"
    table = _table(title)
    human = settings.human
    live = not as_json and not human and err.is_terminal

    async def go() -> Any:
        console = HumanConsole() if human else None
        try:
            settings_llm = settings.llm
            notify = (lambda m: err.print(m, markup=False)) if err.is_terminal else None
            async with open_batch([], settings=settings_llm, notify=notify) as batch:
                rrm = RRM(
                    settings,
                    folder,
                    batch,
                    console=console,
                    resume=resume,
                    on_round=lambda r: _row(table, r),
                    on_progress=(lambda m: err.print(f"[dim]{escape(m)}[/]")) if not as_json and not human else None,
                    label=flag,
                )
                if live:
                    with Live(table, console=err, transient=True):
                        return await rrm.run()
                return await rrm.run()
        finally:
            if console is not None:
                console.close()

    if human:
        out.print(
            f"You give the feedback: {escape(title)}. Ctrl-C stops and keeps what you gave; "
            f"continue with: hch rrm --resume {escape(str(folder))}"
        )
    result = run_async(go, transcript_hint=folder)
    if as_json:
        print(json.dumps(result.as_json()))
        return
    out.print(table)
    out.print(
        f"pool {result.pool} questions ({result.roots} roots) · base agent accuracy "
        f"{_pct(result.base_agent_accuracy)} (roots {_pct(result.base_agent_root_accuracy)})",
        markup=False,
    )
    out.print(f"run folder {folder} (reward models, transcripts, report.json)", markup=False)
    last = result.rounds[-1] if result.rounds else None
    if last is not None:
        out.print(f"last reward model: {last.reward_model}", markup=False)
        out.print(f"feedback datasets: {', '.join(r.dataset for r in result.rounds)}", markup=False)
