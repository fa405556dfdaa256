"""Many debates at once, each its own engine run, written as a dataset of debates.

:func:`task_debates` and :func:`free_debates` turn an operator's questions
(:mod:`operators.questions`) into one :class:`~hch.app.spec.RunSpec` per debate
(its ``debate`` set, so ``hch replay`` rebuilds it); :func:`run_debates` runs
them concurrently through :func:`operators.batch.run_batch` (one transcript
each, one shared model client, one shared terminal) into a dataset folder and
writes one :class:`DebateExample` per debate, citing its verdict event;
:class:`DebateSummary` computes the figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hch.app.spec import RunSpec, TaskSpec
from hch.errors import HCHError, UsageError
from hch.human.console import HumanConsole
from operators.batch import failed, open_batch, run_batch
from operators.dataset import Dataset, DatasetWriter, Example
from operators.debate.model import debate_model
from operators.debate.spec import DebateSpec, JudgeKind, Liar, Position
from operators.questions import FreeQuestion, QuestionSet
from transcripts.events import DebateTurn, DebateVerdict
from transcripts.reader import read_transcript


def task_debates(questions: QuestionSet, *, turns: int, judge: JudgeKind, liar: Liar) -> list[RunSpec]:
    """One task debate per instance; the honest debater alternates between A and B."""
    specs = []
    for i, case in enumerate(questions.instances):
        honest: Position = "A" if i % 2 == 0 else "B"
        seed = questions.seed * 1_000_003 + i
        debate = DebateSpec(format="task", turns=turns, judge=judge, honest=honest, seed=seed, liar=liar)
        task = TaskSpec(name=case.task, facts=case.facts, seed=questions.seed, size=questions.size)
        specs.append(RunSpec(question=case.question, depth=0, task=task, debate=debate))
    return specs


def free_debates(
    questions: Sequence[FreeQuestion],
    *,
    turns: int,
    judge: JudgeKind,
    word_limit: int,
    source: str | None = None,
    where: str = "questions",
) -> list[RunSpec]:
    """Each question debated twice, the correct answer first as A and then as B (position bias cancels).

    A question needs its correct answer (``reference``) and a wrong one
    (``incorrect``); ``source`` is the text for questions that carry none;
    ``where`` names the questions' file in errors.
    """
    specs = []
    for number, q in enumerate(questions, 1):
        if not q.reference or not q.incorrect:
            raise UsageError(f"{where}: question {number} needs 'reference' and 'incorrect' to be debated")
        if q.reference.strip() == q.incorrect.strip():
            raise UsageError(f"{where}: question {number}: 'reference' and 'incorrect' are the same")
        text = q.source if q.source is not None else source
        for honest in ("A", "B"):
            answers = [q.reference, q.incorrect] if honest == "A" else [q.incorrect, q.reference]
            debate = DebateSpec(
                format="free",
                turns=turns,
                judge=judge,
                honest="A" if honest == "A" else "B",
                answers=answers,
                source=text,
                word_limit=word_limit,
            )
            specs.append(RunSpec(question=q.question, depth=0, debate=debate))
    return specs


class DebateExample(Example):
    """One debate: the question, the answers argued, the moves, the verdict and the rewards.

    It cites the debate's ``debate_verdict`` event; ``hch dataset verify``
    checks that the question, answers, winner, rewards, reason, fact and turns
    are what that event recorded. The moves are the transcript's ``debate_turn``
    events before it, copied in order.
    """

    KIND: ClassVar[str] = "debate"
    CLAIMS: ClassVar[dict[str, str]] = {
        "question": "node.question",
        "answers": "event.answers",
        "winner": "event.winner",
        "winner_side": "event.winner_side",
        "rewards": "event.rewards",
        "reason": "event.reason",
        "fact": "event.fact",
        "turns": "event.turns",
    }

    question: str
    answers: dict[str, str]
    honest: str
    winner: str | None
    winner_side: str | None
    rewards: dict[str, int]
    reason: str
    fact: dict[str, str] | None
    turns: int
    moves: list[dict[str, str]]


@dataclass(frozen=True)
class DebateSummary:
    """The figures over a set of debates."""

    examples: list[DebateExample]
    transcripts: list[Path]

    @property
    def honest_win_rate(self) -> float:
        """Share of all debates the honest debater won."""
        return _share(sum(e.winner_side == "honest" for e in self.examples), len(self.examples))

    @property
    def judge_accuracy(self) -> float:
        """Share of decided debates whose verdict went to the true (correct) answer."""
        decided = [e for e in self.examples if e.winner is not None]
        return _share(sum(e.winner_side == "honest" for e in decided), len(decided))

    @property
    def mean_turns(self) -> float:
        return _share(sum(e.turns for e in self.examples), len(self.examples))

    def win_rate_by_position(self) -> dict[str, float]:
        """Share of debates won from each position (A argues and is shown first)."""
        n = len(self.examples)
        return {p: _share(sum(e.winner == p for e in self.examples), n) for p in ("A", "B")}

    def as_json(self) -> dict[str, Any]:
        return {
            "n": len(self.examples),
            "honest_win_rate": self.honest_win_rate,
            "judge_accuracy": self.judge_accuracy,
            "mean_turns": self.mean_turns,
            "win_rate_by_position": self.win_rate_by_position(),
            "undecided": sum(e.winner is None for e in self.examples),
            "fact_checked": sum(e.fact is not None for e in self.examples),
            "debates": [
                {**e.model_dump(mode="json", exclude={"provenance", "moves"}), "transcript": str(t)}
                for e, t in zip(self.examples, self.transcripts, strict=True)
            ],
        }


def _share(part: float, whole: int) -> float:
    return part / whole if whole else 0.0


def example_of(writer: DatasetWriter[DebateExample], path: Path, honest: str) -> DebateExample:
    """The example of one finished debate, read back from its transcript."""
    transcript = read_transcript(path)
    verdict = next((e for e in transcript.events if isinstance(e, DebateVerdict)), None)
    if verdict is None:
        raise UsageError(f"{path}: the debate ended without a verdict")
    moves = [
        {"turn": str(e.turn), "debater": e.debater, "side": e.side, "move": e.move, "text": e.text}
        for e in transcript.events
        if isinstance(e, DebateTurn)
    ]
    return DebateExample(
        provenance=writer.cite(transcript, verdict),
        question=transcript.header.question,
        answers=verdict.answers,
        honest=honest,
        winner=verdict.winner,
        winner_side=verdict.winner_side,
        rewards=verdict.rewards,
        reason=verdict.reason,
        fact=verdict.fact,
        turns=verdict.turns,
        moves=moves,
    )


async def run_debates(
    specs: Sequence[RunSpec],
    writer: DatasetWriter[DebateExample],
    *,
    console: HumanConsole | None = None,
    resume: bool = False,
) -> tuple[DebateSummary, Dataset]:
    """Run every debate concurrently into ``writer``'s folder, write the dataset, and sum up.

    With ``resume``, debates whose transcripts finished are read back, and cut
    ones are continued from their records (see :func:`operators.batch.run_batch`).
    """
    async with open_batch(specs) as batch:
        results = await run_batch(
            specs,
            writer.transcripts,
            batch=batch,
            names=[f"debate-{i:04d}" for i in range(len(specs))],
            build=lambda spec, llm: debate_model(spec, llm=llm, console=console),
            resume=resume,
        )
    broken = failed(results)
    if broken:
        first = broken[0]
        raise HCHError(f"{len(broken)} debate(s) failed; first: {first.transcript}: {first.error}")
    examples = []
    for result in results:
        assert result.spec.debate is not None
        examples.append(await asyncio.to_thread(example_of, writer, result.transcript, result.spec.debate.honest))
    writer.extend(examples)
    dataset = await asyncio.to_thread(writer.finish)
    return DebateSummary(examples, [r.transcript for r in results]), dataset
