"""Many debates at once, each its own engine run, and what they measure.

:func:`task_debates` and :func:`free_debates` turn the command's inputs into
one :class:`~hch.spec.RunSpec` per debate (its ``debate`` set, so ``hch
replay`` rebuilds it); :func:`run_debates` runs them concurrently through
``run_question``, one transcript each, sharing one model client and one
terminal; :class:`DebateSummary` computes the figures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hch.errors import UsageError
from hch.evaluate import instances
from hch.executor import new_run_id, run_question
from hch.human.console import HumanConsole
from hch.spec import RunSpec, TaskSpec
from hch.tasks import Task
from operators.debate.model import debate_model, debate_prompts
from operators.debate.spec import DebateSpec, JudgeKind, Liar, Position
from transcripts.events import DebateVerdict, Event, JSONValue

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.settings import LLMSettings


@dataclass(frozen=True)
class FreeQuestion:
    """A free-text question with the answer that is correct and one that is not."""

    question: str
    correct: str
    incorrect: str
    source: str | None = None


def read_questions(path: Path, source: str | None = None) -> list[FreeQuestion]:
    """Questions from a JSONL file: ``{"question", "correct", "incorrect", "source"?}`` a line.

    ``source`` is the text for records that carry none. Errors name the file and line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--questions {path}: cannot read it ({exc})") from None
    found: list[FreeQuestion] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"{where}: expected a JSON object with question, correct and incorrect")
        for key in ("question", "correct", "incorrect"):
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise UsageError(f"{where}: {key!r} must be a non-empty string")
        unknown = set(obj) - {"question", "correct", "incorrect", "source"}
        if unknown:
            raise UsageError(
                f"{where}: unknown key {sorted(unknown)[0]!r} (expected question, correct, incorrect, source)"
            )
        text = obj.get("source", source)
        if text is not None and not isinstance(text, str):
            raise UsageError(f"{where}: 'source' must be a string")
        if obj["correct"].strip() == obj["incorrect"].strip():
            raise UsageError(f"{where}: the correct and incorrect answers are the same")
        found.append(FreeQuestion(obj["question"], obj["correct"], obj["incorrect"], text))
    if not found:
        raise UsageError(f"--questions {path}: holds no questions")
    return found


def task_debates(
    task: Task, *, n: int, seed: int, size: int, turns: int, judge: JudgeKind, liar: Liar
) -> list[RunSpec]:
    """``n`` task debates on generated instances; the honest debater alternates between A and B."""
    specs = []
    for i, case in enumerate(instances(task, n, seed, size)):
        honest: Position = "A" if i % 2 == 0 else "B"
        debate = DebateSpec(
            format="task", turns=turns, judge=judge, honest=honest, seed=seed * 1_000_003 + i, liar=liar
        )
        task_spec = TaskSpec(name=case.task, facts=case.facts, seed=seed, size=size)
        specs.append(RunSpec(question=case.question, depth=0, task=task_spec, debate=debate))
    return specs


def free_debates(questions: Sequence[FreeQuestion], *, turns: int, judge: JudgeKind, word_limit: int) -> list[RunSpec]:
    """Each question debated twice, the correct answer first as A and then as B (position bias cancels)."""
    specs = []
    for q in questions:
        for honest in ("A", "B"):
            answers = [q.correct, q.incorrect] if honest == "A" else [q.incorrect, q.correct]
            debate = DebateSpec(
                format="free",
                turns=turns,
                judge=judge,
                honest="A" if honest == "A" else "B",
                answers=answers,
                source=q.source,
                word_limit=word_limit,
            )
            specs.append(RunSpec(question=q.question, depth=0, debate=debate))
    return specs


@dataclass(frozen=True)
class DebateOutcome:
    """One debate's result, read from its verdict event."""

    question: str
    answers: dict[str, str]
    honest: Position
    winner: str | None
    winner_side: str | None
    reason: str
    turns: int
    fact: dict[str, str] | None
    transcript: Path

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answers": self.answers,
            "honest": self.honest,
            "winner": self.winner,
            "winner_side": self.winner_side,
            "reason": self.reason,
            "turns": self.turns,
            "fact": self.fact,
            "transcript": str(self.transcript),
        }


@dataclass(frozen=True)
class DebateSummary:
    """The figures over a set of debates."""

    outcomes: list[DebateOutcome]

    @property
    def honest_win_rate(self) -> float:
        """Share of all debates the honest debater won."""
        return _share(sum(o.winner_side == "honest" for o in self.outcomes), len(self.outcomes))

    @property
    def judge_accuracy(self) -> float:
        """Share of decided debates whose verdict went to the true (correct) answer."""
        decided = [o for o in self.outcomes if o.winner is not None]
        return _share(sum(o.winner_side == "honest" for o in decided), len(decided))

    @property
    def mean_turns(self) -> float:
        return _share(sum(o.turns for o in self.outcomes), len(self.outcomes))

    def win_rate_by_position(self) -> dict[str, float]:
        """Share of debates won from each position (A argues and is shown first)."""
        n = len(self.outcomes)
        return {p: _share(sum(o.winner == p for o in self.outcomes), n) for p in ("A", "B")}

    def as_json(self) -> dict[str, Any]:
        return {
            "n": len(self.outcomes),
            "honest_win_rate": self.honest_win_rate,
            "judge_accuracy": self.judge_accuracy,
            "mean_turns": self.mean_turns,
            "win_rate_by_position": self.win_rate_by_position(),
            "undecided": sum(o.winner is None for o in self.outcomes),
            "fact_checked": sum(o.fact is not None for o in self.outcomes),
            "debates": [o.as_json() for o in self.outcomes],
        }


def _share(part: float, whole: int) -> float:
    return part / whole if whole else 0.0


@asynccontextmanager
async def model_client(settings: LLMSettings | None) -> AsyncIterator[tuple[LLMClient | None, dict[str, JSONValue]]]:
    """One model client for all the debates (and the embedded model's server, if that is the endpoint)."""
    if settings is None:
        yield None, {}
        return
    from hch.llm.embedded import EmbeddedServer, is_embedded, open_client

    server = EmbeddedServer() if is_embedded(settings) else None
    async with open_client(settings, server=server) as client:
        yield client, ({"embedded": server.describe()} if server is not None else {})


async def run_debates(
    specs: Sequence[RunSpec], *, folder: Path, console: HumanConsole | None = None
) -> list[DebateOutcome]:
    """Run every debate concurrently, each its own run with its own transcript in ``folder``."""
    from hch.runtime import settings_of

    needs = [s for s in specs if s.debate is not None and s.debate.needs_llm]
    settings = settings_of(needs[0]) if needs else None
    async with model_client(settings) as (client, header):

        async def one(index: int, spec: RunSpec) -> DebateOutcome:
            assert spec.debate is not None
            verdicts: list[DebateVerdict] = []

            def listen(event: Event) -> None:
                if isinstance(event, DebateVerdict):
                    verdicts.append(event)

            path = folder / f"debate-{index:03d}.jsonl"
            await run_question(
                debate_model(spec, llm=client, console=console),
                spec.question,
                transcript=path,
                settings={"spec": spec.model_dump(mode="json"), **header},
                prompts=debate_prompts(spec.debate),
                listeners=[listen],
                run_id=new_run_id(),
            )
            v = verdicts[-1]
            return DebateOutcome(
                spec.question,
                dict(v.answers),
                spec.debate.honest,
                v.winner,
                v.winner_side,
                v.reason,
                v.turns,
                v.fact,
                path,
            )

        return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(specs))))
