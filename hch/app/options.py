"""Building a run from options: from plain typed values to the :class:`~hch.app.spec.RunSpec` of each run.

``hch run`` turns its flags into a :class:`RunOptions` and calls
:func:`plan_runs`; ``hch eval`` and the operator commands use the same checks
(:func:`check_bounds` in :mod:`hch.app.spec`, :func:`who_works`,
:func:`model_fields`), and a script can do the same without the command line.
Every check happens here, before anything starts (the embedded model takes
seconds to start): a bad option is a one-line :class:`~hch.errors.UsageError`.

The library names options by their names here (``depth``, ``max_subquestions``,
``overseer``); an error names one through a :data:`~hch.errors.Label`, so that the command
line can show its own flag (``--max-subquestions``) without the library knowing it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hch.app.spec import RunSpec, TaskSpec, check_bounds, needs_llm
from hch.defaults import DEFAULT_MAX_SUBQUESTIONS
from hch.errors import Label, UsageError, by_name
from hch.executor import check_new_transcript, check_question
from hch.limits import check_size
from hch.tasks import Instance, find_task, load_instances


@dataclass(frozen=True)
class ModelOptions:
    """The model an LLM node uses, and how its calls are made (None: the setting's default or the environment's)."""

    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    """The model's sampling seed."""
    concurrency: int | None = None
    cache: bool | None = None
    timeout_s: float | None = None
    max_attempts: int | None = None
    max_wait_s: float | None = None
    structured_output: str = "auto"
    """auto, or one of :data:`hch.llm.overseer.STRUCTURED_OUTPUTS`."""


@dataclass(frozen=True)
class RunOptions:
    """What ``hch run`` is asked for: a question (free text, or a task instance), the tree's bounds, who works it."""

    question: str | None = None
    """The question; with ``task`` or ``facts`` optional (the instance's own question)."""
    depth: int = 3
    budget: int | None = None
    token_budget: int | None = None
    """Model tokens the whole tree may spend (None: unbounded; docs/budgets.md). A model then needs ``max_tokens``."""
    max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS
    task: str | None = None
    """A task to generate an instance of (by ``seed`` and ``size``)."""
    seed: int | None = None
    """Seed of the generated instance (default 0), and of the model's sampling if given."""
    size: int = 64
    facts: Path | None = None
    """A file holding task instances (docs/tasks.md): one run each."""
    overseer: str | None = None
    """program, llm or human (default: program for a task, llm for free text)."""
    human_depths: str | None = None
    """Depths a person works, as written: ``0,1`` or ``all``."""
    mode: str = "direct"
    """How a person works a node: direct, augmented or review."""
    model: ModelOptions = field(default_factory=ModelOptions)
    transcript: Path | None = None
    """Where the transcript goes (None: under ``$HCH_HOME``); it must not exist yet."""


@dataclass(frozen=True)
class PlannedRun:
    """One run to start: its spec, and the answer the task's solver expects (None for free text)."""

    spec: RunSpec
    expected: str | None = None


def plan_runs(options: RunOptions, *, label: Label = by_name) -> list[PlannedRun]:
    """The runs ``options`` ask for, checked; a one-line :class:`UsageError` if any option is bad."""
    check_bounds(
        options.depth, options.budget, options.max_subquestions, token_budget=options.token_budget, label=label
    )
    # Before anything starts (the embedded model takes seconds): a run that cannot be recorded is bad input.
    if options.question is not None:
        check_question(options.question)
    if options.transcript is not None:
        check_new_transcript(options.transcript, label=label)
    free_text = options.task is None and options.facts is None
    who = who_works(options.overseer, options.human_depths, options.mode, options.depth, free_text, label=label)

    def spec(question: str, task: TaskSpec | None = None) -> RunSpec:
        return RunSpec(
            question=question,
            depth=options.depth,
            budget=options.budget,
            max_subquestions=options.max_subquestions,
            token_budget=options.token_budget,
            task=task,
            **who,
        )

    if free_text:
        if options.question is None:
            raise UsageError(f"give a {label('question')}, or {label('task')} NAME, or {label('facts')} FILE")
        runs = [PlannedRun(spec(options.question))]
    else:
        seed = 0 if options.seed is None else options.seed
        recorded_seed = seed if options.facts is None else None  # a facts file's instances have no seed
        cases = task_cases(options.task, options.facts, options.question, seed, options.size, label=label)
        runs = [
            PlannedRun(
                spec(c.question, TaskSpec(name=c.task, facts=c.facts, seed=recorded_seed, size=options.size)),
                find_task(c.task).solve(c.facts, c.question),
            )
            for c in cases
        ]
    if any(needs_llm(run.spec) for run in runs):
        fields = model_fields(options.model, label=label)
        if options.token_budget is not None and fields["llm"].max_tokens is None:
            # Without it a reply has no bound, and a call's reservation none (hch.llm.tokens).
            raise UsageError(
                f"{label('token_budget')} needs {label('max_tokens')} for the model: without it a reply has no bound"
            )
        runs = [PlannedRun(r.spec.model_copy(update=fields), r.expected) if needs_llm(r.spec) else r for r in runs]
    if options.transcript is not None and len(runs) > 1:
        raise UsageError(f"{label('transcript')} names one file, but the facts file holds several questions")
    return runs


def task_cases(
    task: str | None, facts: Path | None, question: str | None, seed: int, size: int, *, label: Label = by_name
) -> list[Instance]:
    """The task instances asked for: one generated from ``seed`` and ``size``, or those of a facts file."""
    if facts is not None:
        cases = load_instances(facts)
        if task is not None and any(c.task != task for c in cases):
            raise UsageError(f"{facts}: holds task {cases[0].task!r}, but {label('task')} {task} was given")
        if question is not None:
            the_task = find_task(cases[0].task)
            the_task.parse_question(cases[0].facts, question)
            cases = [Instance(task=cases[0].task, facts=cases[0].facts, question=question)]
        return cases
    if task is None:
        raise UsageError(f"give {label('task')} NAME or {label('facts')} FILE for a task instance")
    the_task = find_task(task)
    check_size(size, label("size"))
    case = the_task.generate(random.Random(seed), size)
    if question is not None:
        the_task.parse_question(case.facts, question)
        case = Instance(task=case.task, facts=case.facts, question=question)
    return [case]


def who_works(
    overseer: str | None,
    human_depths: str | None,
    mode: str,
    depth: int,
    free_text: bool,
    *,
    label: Label = by_name,
) -> dict[str, Any]:
    """RunSpec fields saying who works the nodes (``overseer``, ``human_depths``, ``human_mode``)."""
    from hch.human.build import check_mode, parse_depths

    chosen = overseer or ("llm" if free_text else "program")
    if chosen not in ("program", "llm", "human"):
        raise UsageError(f"{label('overseer')} {chosen!r}: choose program, llm or human")
    if chosen == "program" and free_text:
        raise UsageError(
            f"{label('overseer')} program needs {label('task')} or {label('facts')} "
            "(free-text questions need llm or human)"
        )
    depths = parse_depths(human_depths, depth, label("human_depths")) if human_depths is not None else []
    human_mode = check_mode(mode, label("mode"))
    if human_mode != "direct" and chosen != "human" and not depths:
        raise UsageError(
            f"{label('mode')} {human_mode} is how a person works a node: "
            f"add {label('overseer')} human or {label('human_depths')}"
        )
    return {"overseer": chosen, "human_depths": depths, "human_mode": human_mode}


def model_fields(options: ModelOptions, *, label: Label = by_name) -> dict[str, Any]:
    """RunSpec fields for the model (``llm``, ``structured_output``), from ``options`` and the environment."""
    from hch.llm.embedded import is_embedded, resolve_settings
    from hch.llm.overseer import STRUCTURED_OUTPUTS

    settings = resolve_settings(
        model=options.model,
        base_url=options.base_url,
        api_key_env=options.api_key_env,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=options.seed,
        concurrency=options.concurrency,
        cache=options.cache,
        timeout_s=options.timeout_s,
        max_attempts=options.max_attempts,
        max_wait_s=options.max_wait_s,
        label=label,
    )
    output = options.structured_output
    if output == "auto":
        output = "json_object_schema" if is_embedded(settings) else "json_schema"
    if output not in STRUCTURED_OUTPUTS:
        raise UsageError(
            f"{label('structured_output')} {options.structured_output!r}: choose auto, {', '.join(STRUCTURED_OUTPUTS)}"
        )
    return {"llm": settings, "structured_output": output}


_OPERATIONAL = ("concurrency", "timeout_s", "max_attempts", "max_wait_s", "api_key_env", "cache")
"""Model options that change how calls are made, not what they are: a resume may change them."""


def check_resume_options(spec: RunSpec, given: dict[str, Any], path: Path, *, label: Label = by_name) -> dict[str, Any]:
    """Refuse options that contradict the transcript being resumed; return the model-call overrides.

    ``given`` holds only the options given, by their names here (those of
    :class:`RunOptions` and :class:`ModelOptions`). Options that decide the tree
    (the question, bounds, task, who works the nodes, the model and its
    sampling) must repeat the recorded value; options that only change how
    calls are made (concurrency, timeouts, attempts, cache, the key's variable)
    are returned as :class:`~hch.llm.settings.LLMSettings` overrides; any other
    option is refused.
    """
    llm = spec.llm.public() if spec.llm is not None else {}
    recorded: dict[str, Any] = {
        "question": spec.question,
        "depth": spec.depth,
        "budget": spec.budget,
        "token_budget": spec.token_budget,
        "max_subquestions": spec.max_subquestions,
        "overseer": spec.overseer,
        "mode": spec.human_mode,
        "task": spec.task.name if spec.task else None,
        "seed": spec.task.seed if spec.task else llm.get("seed"),
        "size": spec.task.size if spec.task else None,
        "model": llm.get("model"),
        "base_url": llm.get("base_url"),
        "temperature": llm.get("temperature"),
        "max_tokens": llm.get("max_tokens"),
        "structured_output": spec.structured_output,
    }
    overrides: dict[str, Any] = {}
    for name, value in given.items():
        if name in _OPERATIONAL:
            overrides[name] = value
            continue
        if name not in recorded:
            raise UsageError(
                f"{label(name)} cannot be combined with {label('resume')}: the run's settings come from {path}"
            )
        same = value == recorded[name]
        if name == "base_url" and isinstance(value, str):
            same = value.rstrip("/") == recorded[name]
        if name == "structured_output" and value == "auto":
            same = True
        if not same:
            from hch.llm.urls import public_url  # here: hch.llm loads the OpenAI SDK

            shown = public_url(value) if name == "base_url" and isinstance(value, str) else value
            raise UsageError(
                f"{label(name)} {shown} conflicts with {label('resume')} {path}, which ran with {recorded[name]!r}; "
                "leave it out (the settings come from the transcript)"
            )
    return overrides
