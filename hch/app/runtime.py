"""Opening what one run needs: its one model client (and the embedded model's
server, when that is the endpoint) and the tree built on them.

``hch run``, ``hch eval`` and ``hch run --resume`` all go through :func:`open_run`
(the first two by :func:`run_spec`), so a resumed run is built exactly as a fresh
one. (A replay builds its tree with an offline client instead: see
:mod:`hch.app.replay`.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hch.app.spec import RunSpec, build_model, needs_llm
from hch.errors import needs_model
from hch.executor import RunResult, run_question
from hch.protocols import Model
from transcripts.events import JSONValue
from transcripts.writer import Listener

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.settings import LLMSettings


@dataclass(frozen=True)
class OpenRun:
    """A run's tree, the prompts it uses, and what the header should say served it."""

    model: Model
    prompts: dict[str, str] = field(default_factory=dict)
    header: dict[str, JSONValue] = field(default_factory=dict)


def prompts_for(spec: RunSpec) -> dict[str, str]:
    """Every prompt today's code sends for ``spec``, as recorded in transcript headers."""
    if spec.debate is not None:
        from operators.debate.model import debate_prompts

        return debate_prompts(spec.debate)
    if not needs_llm(spec):
        return {}
    extra: dict[str, str] = {}
    if spec.distilled is not None and spec.distilled.kind == "in_context":
        from operators.imitative.in_context import PROMPTS as IN_CONTEXT_PROMPTS

        extra = dict(IN_CONTEXT_PROMPTS)
    # Imported here: hch.llm loads the OpenAI SDK, which task-only commands never need.
    from hch.llm.prompts import DEFAULT_PROMPTS

    prompts = DEFAULT_PROMPTS.as_dict()
    if spec.human_mode != "direct":
        from hch.human.drafter import PROMPTS as DRAFTER_PROMPTS

        prompts.update(DRAFTER_PROMPTS)
    return {**prompts, **extra}


def settings_of(spec: RunSpec) -> LLMSettings:
    """The model settings the spec records."""
    if spec.llm is None:
        raise needs_model("this run")
    return spec.llm


@dataclass(frozen=True)
class OpenClient:
    """A model client open for one or many runs, and what the header should say served it."""

    client: LLMClient
    header: dict[str, JSONValue] = field(default_factory=dict)


@asynccontextmanager
async def open_model_client(
    settings: LLMSettings, *, notify: Callable[[str], None] | None = None
) -> AsyncIterator[OpenClient]:
    """One model client (and the embedded model's server, when that is the endpoint), open until the block ends.

    A run opens one (:func:`open_run`); a batch of runs opens one and shares it
    (:mod:`operators.batch`), so its semaphore bounds the calls of all of them.
    """
    from hch.llm.embedded import EmbeddedServer, is_embedded, open_client

    server = EmbeddedServer() if is_embedded(settings) else None
    if server is not None and notify is not None:
        notify("starting the embedded model (SmolLM2-135M, llama.cpp on 127.0.0.1) ...")
    async with open_client(settings, server=server) as client:
        # What served the run: the embedded server's file, version, pid, port and log.
        header: dict[str, JSONValue] = {"embedded": server.describe()} if server is not None else {}
        yield OpenClient(client, header)


@asynccontextmanager
async def open_run(
    spec: RunSpec,
    *,
    settings: LLMSettings | None = None,
    notify: Callable[[str], None] | None = None,
) -> AsyncIterator[OpenRun]:
    """The tree ``spec`` describes, with its model client open until the block ends.

    ``settings`` replaces the spec's model settings (resume changes how calls
    are made, never what they are); ``notify`` hears about slow steps, such as
    starting the embedded model.
    """
    if not needs_llm(spec):
        yield OpenRun(build_model(spec))
        return
    async with open_model_client(settings or settings_of(spec), notify=notify) as opened:
        yield OpenRun(build_model(spec, llm=opened.client), prompts_for(spec), opened.header)


async def run_spec(
    spec: RunSpec,
    *,
    transcript: Path,
    run_id: str | None = None,
    listeners: Iterable[Listener] = (),
    display: AbstractContextManager[Any] | None = None,
    notify: Callable[[str], None] | None = None,
) -> RunResult:
    """Open the run ``spec`` describes and answer its question, writing ``transcript``.

    The header records the spec (so that replay and resume rebuild the same
    tree), what served the run and the prompts it uses. ``display`` (a live
    progress line, say) is entered once the model client is open, so that
    ``notify``'s messages about opening it are not drawn over.
    """
    async with open_run(spec, notify=notify) as opened:
        with display or nullcontext():
            return await answer_spec(
                opened.model,
                spec,
                transcript=transcript,
                settings={"spec": spec.model_dump(mode="json"), **opened.header},
                prompts=opened.prompts,
                listeners=listeners,
                run_id=run_id,
            )


async def answer_spec(
    model: Model,
    spec: RunSpec,
    *,
    transcript: Path,
    settings: dict[str, JSONValue],
    prompts: dict[str, str],
    listeners: Iterable[Listener] = (),
    run_id: str | None = None,
) -> RunResult:
    """Answer ``spec``'s question with ``model`` (its tree) under the spec's bounds, writing ``transcript``.

    The one place a spec's bounds (calls, tokens, subquestions) reach
    :func:`~hch.executor.run_question`: :func:`run_spec` and the operators'
    batches (:mod:`operators.batch`) both run a spec through it.
    """
    return await run_question(
        model,
        spec.question,
        transcript=transcript,
        budget=spec.budget,
        token_budget=spec.token_budget,
        max_subquestions=spec.max_subquestions,
        settings=settings,
        prompts=prompts,
        listeners=listeners,
        run_id=run_id,
    )
