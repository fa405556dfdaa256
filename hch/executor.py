"""Running nodes and whole runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hch.admission import DEFAULT_MAX_WORKING, Admission
from hch.budget import Budget
from hch.collector import enter_run, leave_run
from hch.context import RunContext
from hch.defaults import DEFAULT_MAX_SUBQUESTIONS as DEFAULT_MAX_SUBQUESTIONS  # re-exported: its old home
from hch.errors import Label, UsageError, by_name
from hch.limits import check_budget, check_depth, check_max_subquestions, check_token_budget
from hch.node import Node
from hch.paths import transcripts_dir
from hch.playback import Playback
from hch.protocols import Model
from hch.version import __version__
from transcripts.events import Header, JSONValue, NodeAnswer, NodeError, NodeStart, RunEnd
from transcripts.writer import Listener, TranscriptWriter


async def run_node(model: Model, node: Node) -> str:
    """Work ``node`` with ``model``, recording its start, its answer or its failure."""
    node.budget.charge(1)
    node.emit(
        NodeStart(
            node_id=node.node_id,
            parent_id=node.parent_id,
            question=node.question,
            level=node.level,
            budget=node.budget.allotted,
            worker=model.name,
            token_budget=node.tokens.allotted,
        )
    )
    try:
        answer = await model.answer(node)
    except asyncio.CancelledError:
        node.emit(NodeError(node_id=node.node_id, error_type="Cancelled", message="stopped before answering"))
        raise
    except Exception as exc:
        node.emit(NodeError(node_id=node.node_id, error_type=type(exc).__name__, message=str(exc)))
        raise
    node.emit(NodeAnswer(node_id=node.node_id, answer=answer, spent=node.budget.spent, tokens_spent=node.tokens.spent))
    return answer


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced."""

    answer: str
    transcript: Path
    counts: dict[str, int] = field(default_factory=dict)
    """Events by kind: ``node_start`` is nodes worked, ``reuse`` shared subquestions, ..."""
    spent: int = 0
    """Calls charged against the budget."""
    tokens_spent: int = 0
    """Model tokens charged against the token budget (see :mod:`hch.budget`)."""

    @property
    def nodes(self) -> int:
        return self.counts.get("node_start", 0)

    @property
    def calls(self) -> int:
        """Oracle lookups and model calls the tree made, however they were served."""
        return self.counts.get("oracle_call", 0) + self.counts.get("model_call", 0)

    @property
    def network_calls(self) -> int:
        """Model calls that reached the endpoint (not served by the cache or a transcript)."""
        return self.counts.get("model_call:network", 0)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def default_transcript_path(run_id: str) -> Path:
    """A new file under ``$HCH_HOME/transcripts``, named by time and run id."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return transcripts_dir() / f"{stamp}-{run_id}.jsonl"


def check_question(question: str) -> str:
    """``question`` if it can be a run's question; a :class:`UsageError` saying why not otherwise.

    A question must hold some text, and be text: a command-line argument that
    is not valid UTF-8 reaches Python with its bad bytes as lone surrogates,
    which no transcript can store.
    """
    if not question.strip():
        raise UsageError("the question is empty: ask something")
    for index, char in enumerate(question):
        if "\udc80" <= char <= "\udcff":  # how surrogateescape carries an undecodable byte
            raise UsageError(
                f"the question is not valid UTF-8 text (byte 0x{ord(char) - 0xDC00:02x} at position {index})"
            )
        if "\ud800" <= char <= "\udfff":
            raise UsageError(f"the question is not valid UTF-8 text (a lone surrogate at position {index})")
    return question


def check_new_transcript(path: Path, *, label: Label = by_name) -> Path:
    """``path`` if a new transcript may be written there; a :class:`UsageError` otherwise.

    A transcript is evidence and is never overwritten; a folder or a device
    (``/dev/null``) is no place for one either. ``label`` names the option in
    the message (:data:`hch.errors.Label`).
    """
    if path.is_dir():
        raise UsageError(f"{label('transcript')} {path} is a folder; name a new .jsonl file")
    if path.exists() or path.is_symlink():
        raise UsageError(f"{label('transcript')} {path} already exists; a transcript is never overwritten")
    return path


def _open_writer(path: Path, header: Header) -> TranscriptWriter:
    check_new_transcript(path)
    try:
        return TranscriptWriter(path, header)
    except FileExistsError:  # created between the check and the open
        raise UsageError(f"transcript {path} already exists; a transcript is never overwritten") from None
    except OSError as exc:
        raise UsageError(f"transcript {path}: cannot write: {exc.strerror or exc}") from None


async def run_question(
    model: Model,
    question: str,
    *,
    transcript: Path,
    budget: int | None = None,
    token_budget: int | None = None,
    max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
    settings: dict[str, JSONValue] | None = None,
    prompts: dict[str, str] | None = None,
    listeners: Iterable[Listener] = (),
    run_id: str | None = None,
    playback: Playback | None = None,
    max_working: int = DEFAULT_MAX_WORKING,
) -> RunResult:
    """Answer ``question`` with ``model`` (typically an HCH tree), writing a transcript.

    The transcript is complete up to the moment of any failure or cancellation,
    and ends with a ``run_end`` event saying how the run ended. ``max_working``
    bounds the nodes working at once (not those waiting on subquestions; see
    :mod:`hch.admission`), which bounds the memory of wide trees.
    ``budget`` bounds the calls of the whole tree and ``token_budget`` its model
    tokens (None: unbounded; see :mod:`hch.budget`).
    """
    check_depth(model.level)
    check_budget(budget)
    check_token_budget(token_budget)
    check_max_subquestions(max_subquestions)
    check_question(question)
    header = Header(
        run_id=run_id or new_run_id(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        hch_version=__version__,
        question=question,
        # The engine's own view of the bounds comes last: callers add settings
        # (the run spec, LLM settings) but cannot misreport these.
        settings={
            **(settings or {}),
            "depth": model.level,
            "budget": budget,
            "token_budget": token_budget,
            "max_subquestions": max_subquestions,
            "root_worker": model.name,
        },
        prompts=prompts or {},
    )
    writer = _open_writer(transcript, header)
    for listener in listeners:
        writer.subscribe(listener)
    run = RunContext(
        writer=writer, max_subquestions=max_subquestions, playback=playback, admission=Admission(max_working)
    )
    root = Node(
        node_id="0",
        parent_id=None,
        question=question,
        level=model.level,
        parent=None,
        budget=Budget(budget),
        run=run,
        tokens=Budget(token_budget),
    )
    enter_run()  # the collector, tuned until the run ends (see hch.collector)
    try:
        try:
            answer = await run_node(model, root)
        except asyncio.CancelledError:
            run.emit(RunEnd(status="cancelled", error="cancelled", stats=dict(run.counts)))
            raise
        except Exception as exc:
            run.emit(RunEnd(status="error", error=f"{type(exc).__name__}: {exc}", stats=dict(run.counts)))
            raise
        run.emit(RunEnd(status="ok", answer=answer, stats=dict(run.counts)))
    finally:
        leave_run()
        # Joining the writer thread waits on file I/O: keep it off the loop.
        await asyncio.shield(asyncio.to_thread(writer.close))
    return RunResult(
        answer=answer,
        transcript=transcript,
        counts=dict(run.counts),
        spent=root.budget.spent,
        tokens_spent=root.tokens.spent,
    )
