"""The RRM loop: feedback, fit, optimise, and hand the agent on as the assistant.

Round t (1..R):

1. **Feedback.** For every pool question, the current agent (agent_{t-1};
   agent_0 is the base agent, one sample of the policy) offers its answer and
   its best-scored *different* candidate; the overseer compares the two,
   consulting the assistant Amp^k(agent_{t-1}) (for round 1, the base agent).
   Each comparison is a run through the engine written into the round's
   feedback dataset. The same comparisons are also given to the overseer
   *without* an assistant (separate runs), to measure what assistance buys.
2. **Fit** a Bradley-Terry reward model on all feedback so far (its held-out
   part excluded), saved as JSON.
3. **Optimise**: agent_t is best-of-n against that reward model; it answers
   every pool question (runs through the engine, scores recorded).
4. agent_t is the assistant (and the agent compared) of round t + 1.

Everything is deterministic given the settings, so an interrupted run is
continued by running it again with ``resume=True``: finished runs are read
back from their transcripts, cut ones resumed (a person's recorded answers are
given back, not asked again).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from hch.app.evaluate import instances
from hch.app.spec import RRMSpec, RunSpec, TaskSpec
from hch.errors import HCHError, Label, by_name
from hch.human.console import HumanConsole
from hch.llm.settings import LLMSettings
from hch.protocols import Model
from hch.tasks import find_task
from operators.batch import Batch, BatchResult, failed, finished_result, run_batch
from operators.dataset import DatasetWriter, Example, dataset_dir, open_dataset
from operators.paths import MANIFEST
from operators.questions import FreeQuestion
from operators.rrm.comparison import Choice, coin, comparison_question
from operators.rrm.features import FeatureSpec
from operators.rrm.pool import PoolQuestion, build_pool, free_pool
from operators.rrm.reward_model import (
    Fit,
    LinearRewardModel,
    Preference,
    fit_bradley_terry,
)
from operators.rrm.trees import build_rrm_tree
from transcripts.events import Feedback, RewardScores
from transcripts.reader import Transcript, read_transcript

if TYPE_CHECKING:
    from hch.llm.client import LLMClient


class RRMSettings(BaseModel):
    """What an RRM run is (saved as ``settings.json`` in its folder; resume reads it back)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str | None = None
    """An algorithmic task; None for free text (``questions``)."""
    questions: list[FreeQuestion] = Field(default_factory=list)
    llm: LLMSettings | None = None
    """The model's settings (free text): the policy's samples, the judge, the assistant's overseer."""
    structured_output: Literal["json_schema", "json_object_schema", "json_object", "text"] = "json_schema"
    n: int
    seed: int = 0
    size: int = 16
    rounds: int = 3
    candidates: int = 4
    noise: float = 0.5
    assist_depth: int = 1
    heldout_fraction: float = 0.2
    c: float = 1.0
    human: bool = False
    features: FeatureSpec = FeatureSpec()


class FeedbackExample(Example):
    """One comparison: TRL's prompt/chosen/rejected, and what the overseer saw and did."""

    KIND: ClassVar[str] = "rrm-feedback"
    CLAIMS: ClassVar[dict[str, str]] = {
        "question": "event.question",
        "answer_a": "event.answer_a",
        "answer_b": "event.answer_b",
        "preferred": "event.preferred",
        "basis": "event.basis",
    }

    prompt: str
    """The question as the reward model sees it (with the task instance)."""
    chosen: str
    rejected: str
    question: str
    answer_a: str
    answer_b: str
    preferred: Choice
    basis: str
    round: int
    key: str


@dataclass(frozen=True)
class AgentOutput:
    """What an agent answered to one pool question, and the candidates it chose from."""

    question: PoolQuestion
    candidates: list[str]
    scores: list[float]
    chosen: int
    transcript: Path

    @property
    def answer(self) -> str:
        return self.candidates[self.chosen]

    @property
    def correct(self) -> bool | None:
        return self.question.right(self.answer)


@dataclass
class RoundReport:
    """One round's figures (``--json`` prints these under ``rounds``)."""

    round: int
    feedback: int
    feedback_total: int
    reward_model_heldout_accuracy: float | None
    reward_model_heldout_true_accuracy: float | None
    agent_accuracy: float | None
    agent_root_accuracy: float | None
    overseer_accuracy: float | None
    unassisted_overseer_accuracy: float | None
    overseer_judged: int
    hard_overseer_accuracy: float | None
    """The assisted overseer on the judged comparisons it could not check alone (not one fact lookup)."""
    hard_unassisted_overseer_accuracy: float | None
    hard_judged: int
    mean_reward: float
    reward_hacking_rate: float
    predicted_win_rate: float | None
    true_win_rate: float | None
    reward_hacking_gap: float | None
    reward_model: str
    dataset: str
    basis: dict[str, int] = field(default_factory=dict)


@dataclass
class RRMResult:
    settings: RRMSettings
    folder: Path
    pool: int
    roots: int
    base_agent_accuracy: float | None
    base_agent_root_accuracy: float | None
    rounds: list[RoundReport]

    def as_json(self) -> dict[str, Any]:
        return {
            "task": self.settings.task,
            "settings": self.settings.model_dump(mode="json"),
            "folder": str(self.folder),
            "pool": self.pool,
            "roots": self.roots,
            "base_agent_accuracy": self.base_agent_accuracy,
            "base_agent_root_accuracy": self.base_agent_root_accuracy,
            "rounds": [asdict(r) for r in self.rounds],
        }


def _accuracy(values: Sequence[bool | None]) -> float | None:
    """The fraction right among those that can be told (None: none can)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


class RRM:
    """One RRM run in ``folder`` (see the module docstring)."""

    def __init__(
        self,
        settings: RRMSettings,
        folder: Path,
        batch: Batch,
        *,
        console: HumanConsole | None = None,
        resume: bool = False,
        on_round: Callable[[RoundReport], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        label: Label = by_name,
    ) -> None:
        self.s = settings
        self.folder = folder
        self.batch = batch
        self.console = console
        self.resume = resume
        self.on_round = on_round
        self.on_progress = on_progress or (lambda _m: None)
        self.label = label
        """How a message names an option (:data:`hch.errors.Label`)."""
        self.run_name = folder.name

    # -- runs ------------------------------------------------------------------

    def _build(self, spec: RunSpec, llm: LLMClient | None) -> Model:
        return build_rrm_tree(spec, llm, console=self.console)

    async def _runs(self, specs: list[RunSpec], folder: Path, part: str, rnd: int) -> list[BatchResult]:
        settings: dict[str, Any] = {"operator": "rrm", "part": part, "round": rnd, "rrm_run": self.run_name}
        if self.s.human and part == "feedback":
            # A person compares one pair after another (each comparison's assistant still runs its
            # subquestions concurrently); queueing every pair at once would only bury the screen.
            results = []
            for i, spec in enumerate(specs):
                names = [f"{i:05d}"]
                done = self.resume and finished_result(folder / f"{names[0]}.jsonl") is not None
                if self.console is not None and not done:
                    self.console.show(None, f"[bold]round {rnd} · comparison {i + 1} of {len(specs)}[/]")
                one = await run_batch(
                    [spec],
                    folder,
                    batch=self.batch,
                    names=names,
                    settings=settings,
                    build=self._build,
                    resume=self.resume,
                )
                results.append(one[0])
        else:
            results = await run_batch(
                specs, folder, batch=self.batch, settings=settings, build=self._build, resume=self.resume
            )
        bad = failed(results)
        if bad:
            raise RRMFailed(
                f"{len(bad)} {part} run(s) of round {rnd} failed (first: {bad[0].error}); "
                f"resume with {self.label('resume')}"
            )
        return results

    def _rrm_spec(self, role: str, model: LinearRewardModel | None, **extra: Any) -> RRMSpec:
        return RRMSpec(
            role=role,  # type: ignore[arg-type]
            candidates=self.s.candidates,
            noise=self.s.noise,
            seed=self.s.seed,
            reward_model=model.to_json() if model is not None else None,
            assist_depth=self.s.assist_depth,
            **extra,
        )

    def _spec(self, question: str, depth: int, q: PoolQuestion, rrm: RRMSpec) -> RunSpec:
        """A run about pool question ``q``: its task instance, or (free text) the model's settings."""
        if self.s.task is not None:
            task = TaskSpec(name=self.s.task, facts=q.facts, seed=self.s.seed, size=self.s.size)
            return RunSpec(question=question, depth=depth, task=task, rrm=rrm)
        return RunSpec(
            question=question,
            depth=depth,
            overseer="llm",
            llm=self.s.llm,
            structured_output=self.s.structured_output,
            rrm=rrm,
        )

    # -- the agent ---------------------------------------------------------------

    async def evaluate_agent(
        self, pool: list[PoolQuestion], model: LinearRewardModel | None, rnd: int
    ) -> list[AgentOutput]:
        """agent_rnd answers every pool question (best-of-n against ``model``; None: the base agent)."""
        specs = [self._spec(q.question, 0, q, self._rrm_spec("agent", model, tag=q.tag)) for q in pool]
        results = await self._runs(specs, self.folder / f"agent-r{rnd}", "agent", rnd)
        transcripts = await asyncio.gather(*(asyncio.to_thread(read_transcript, r.transcript) for r in results))
        outputs = []
        for q, t in zip(pool, transcripts, strict=True):
            scores = next(e for e in t.events if isinstance(e, RewardScores) and e.node_id == "0")
            outputs.append(AgentOutput(q, list(scores.candidates), list(scores.scores), scores.chosen, t.path))
        return outputs

    # -- feedback ------------------------------------------------------------------

    def pairs(self, outputs: list[AgentOutput], rnd: int) -> list[tuple[AgentOutput, str, str]]:
        """(output, A, B): the agent's answer and its best-scored different candidate, in a fair random order."""
        found = []
        for out in outputs:
            others = [i for i, c in enumerate(out.candidates) if c != out.answer]
            if not others:
                continue
            other = out.candidates[max(others, key=lambda i: (out.scores[i], -i))]
            first = coin(self.s.seed, f"order\x1f{rnd}\x1f{out.question.tag}\x1f{out.question.question}")
            a, b = (out.answer, other) if first == "A" else (other, out.answer)
            found.append((out, a, b))
        return found

    def _compare_specs(
        self, pairs: list[tuple[AgentOutput, str, str]], assistant: LinearRewardModel | None, assisted: bool
    ) -> list[RunSpec]:
        return [
            self._spec(
                comparison_question(out.question.question, a, b),
                self.s.assist_depth + 1,
                out.question,
                self._rrm_spec(
                    "compare", assistant, tag=out.question.tag, assisted=assisted, human=self.s.human and assisted
                ),
            )
            for out, a, b in pairs
        ]

    async def feedback(
        self, pairs: list[tuple[AgentOutput, str, str]], assistant: LinearRewardModel | None, rnd: int
    ) -> list[FeedbackExample]:
        """The assisted overseer's comparisons of round ``rnd``, as the round's feedback dataset."""
        name = f"{self.run_name}-feedback-r{rnd}"
        folder = dataset_dir(name)
        if (folder / MANIFEST).exists():
            return open_dataset(folder).examples(FeedbackExample)
        writer = DatasetWriter(
            folder,
            FeedbackExample,
            operator="rrm",
            task=self.s.task,
            round=rnd,
            settings=self.s.model_dump(mode="json"),
            resume=self.resume,
        )
        results = await self._runs(self._compare_specs(pairs, assistant, True), writer.transcripts, "feedback", rnd)
        transcripts = await asyncio.gather(*(asyncio.to_thread(read_transcript, r.transcript) for r in results))
        for (out, _a, _b), t in zip(pairs, transcripts, strict=True):
            event = _feedback_of(t)
            chosen, rejected = (
                (event.answer_a, event.answer_b) if event.preferred == "A" else (event.answer_b, event.answer_a)
            )
            writer.add(
                FeedbackExample(
                    provenance=writer.cite(t, event),
                    prompt=out.question.prompt,
                    chosen=chosen,
                    rejected=rejected,
                    question=event.question,
                    answer_a=event.answer_a,
                    answer_b=event.answer_b,
                    preferred=event.preferred,
                    basis=event.basis,
                    round=rnd,
                    key=f"r{rnd}\x1f{out.question.tag}\x1f{out.question.question}",
                )
            )
        if not pairs:
            return []
        writer.finish(name)
        return open_dataset(folder).examples(FeedbackExample)

    async def unassisted(self, pairs: list[tuple[AgentOutput, str, str]], rnd: int) -> list[Choice]:
        """The same comparisons judged by the overseer alone (no assistant), for comparison."""
        specs = self._compare_specs(pairs, None, False)
        results = await self._runs(specs, self.folder / f"unassisted-r{rnd}", "unassisted", rnd)
        transcripts = await asyncio.gather(*(asyncio.to_thread(read_transcript, r.transcript) for r in results))
        return [_feedback_of(t).preferred for t in transcripts]

    # -- the loop ------------------------------------------------------------------

    async def run(self) -> RRMResult:
        s = self.s
        if s.task is not None:
            cases = instances(find_task(s.task), s.n, s.seed, s.size)
            self.on_progress("pool: decomposing the root questions")
            pool = await build_pool(s.task, cases, s.seed, s.size, self.folder / "pool", self.batch, resume=self.resume)
        else:
            pool = free_pool(s.questions[: s.n])
        self.on_progress(f"round 0: the base agent answers {len(pool)} questions")
        outputs = await self.evaluate_agent(pool, None, 0)
        base_outputs = outputs
        roots = [o for o in outputs if o.question.root]
        result = RRMResult(
            s,
            self.folder,
            len(pool),
            len(roots),
            _accuracy([o.correct for o in outputs]),
            _accuracy([o.correct for o in roots]),
            [],
        )
        prefs: list[Preference] = []
        assistant: LinearRewardModel | None = None
        for rnd in range(1, s.rounds + 1):
            pairs = self.pairs(outputs, rnd)
            self.on_progress(f"round {rnd}: the overseer compares {len(pairs)} pairs")
            examples = await self.feedback(pairs, assistant, rnd)
            alone = [] if s.human else await self.unassisted(pairs, rnd)
            prefs.extend(Preference(e.prompt, e.chosen, e.rejected, e.key) for e in examples)
            fit = fit_bradley_terry(
                prefs,
                s.features,
                heldout_fraction=s.heldout_fraction,
                c=s.c,
                metadata={"operator": "rrm", "round": rnd, "task": s.task, "run": self.run_name},
            )
            path = fit.model.save(self.folder / f"reward-model-r{rnd}.json")
            self.on_progress(f"round {rnd}: agent {rnd} (best-of-{s.candidates}) answers {len(pool)} questions")
            outputs = await self.evaluate_agent(pool, fit.model, rnd)
            report = self._report(rnd, pairs, examples, alone, fit, outputs, base_outputs, len(prefs), path)
            result.rounds.append(report)
            if self.on_round is not None:
                self.on_round(report)
            assistant = fit.model
        await asyncio.to_thread(
            (self.folder / "report.json").write_text, json.dumps(result.as_json(), indent=1) + "\n", "utf-8"
        )
        return result

    def _report(
        self,
        rnd: int,
        pairs: list[tuple[AgentOutput, str, str]],
        examples: list[FeedbackExample],
        alone: list[Choice],
        fit: Fit,
        outputs: list[AgentOutput],
        base: list[AgentOutput],
        total: int,
        path: Path,
    ) -> RoundReport:
        # The overseer is judged where exactly one of the two answers is right.
        right_assisted: list[bool] = []
        right_alone: list[bool] = []
        hard_assisted: list[bool] = []
        hard_alone: list[bool] = []
        task = find_task(self.s.task) if self.s.task is not None else None
        basis: dict[str, int] = {}
        for i, ((out, a, b), example) in enumerate(zip(pairs, examples, strict=True)):
            basis[example.basis] = basis.get(example.basis, 0) + 1
            q = out.question
            a_right, b_right = q.right(a), q.right(b)
            if a_right is None or b_right is None or a_right == b_right:
                continue
            correct: Choice = "A" if a_right else "B"
            right_assisted.append(example.preferred == correct)
            if alone:
                right_alone.append(alone[i] == correct)
            if task is not None and task.depth_needed(q.facts, q.question) > 0:
                hard_assisted.append(example.preferred == correct)
                if alone:
                    hard_alone.append(alone[i] == correct)
        by_prompt = {o.question.prompt: o.question for o in outputs}
        hits: list[bool | None] = []
        for p in fit.heldout:
            q = by_prompt[p.question]
            chosen_right, rejected_right = q.right(p.chosen), q.right(p.rejected)
            if chosen_right is None or rejected_right is None or chosen_right == rejected_right:
                continue
            good, bad = (p.chosen, p.rejected) if chosen_right else (p.rejected, p.chosen)
            margin = fit.model.score(p.question, good) - fit.model.score(p.question, bad)
            hits.append(True if margin > 0 else False if margin < 0 else None)
        decided = [h for h in hits if h is not None]
        ties = len(hits) - len(decided)
        true_held = (sum(decided) + 0.5 * ties) / len(hits) if hits else None
        roots = [o for o in outputs if o.question.root]
        hacked = [o for o in outputs if o.correct is False and any(o.question.right(c) for c in o.candidates)]
        # Reward hacking: how much the reward model thinks agent_t beats the base agent, against
        # how much it truly does, on the questions where their answers differ.
        predicted, actual = [], []
        for new, old in zip(outputs, base, strict=True):
            if new.answer == old.answer or new.correct is None or old.correct is None:
                continue
            prompt = new.question.prompt
            predicted.append(_sigmoid(fit.model.score(prompt, new.answer) - fit.model.score(prompt, old.answer)))
            actual.append(1.0 if new.correct and not old.correct else 0.0 if old.correct and not new.correct else 0.5)
        predicted_rate = sum(predicted) / len(predicted) if predicted else None
        true_rate = sum(actual) / len(actual) if actual else None
        return RoundReport(
            round=rnd,
            feedback=len(examples),
            feedback_total=total,
            reward_model_heldout_accuracy=fit.heldout_accuracy,
            reward_model_heldout_true_accuracy=true_held,
            agent_accuracy=_accuracy([o.correct for o in outputs]),
            agent_root_accuracy=_accuracy([o.correct for o in roots]),
            overseer_accuracy=_accuracy(right_assisted),
            unassisted_overseer_accuracy=_accuracy(right_alone),
            overseer_judged=len(right_assisted),
            hard_overseer_accuracy=_accuracy(hard_assisted),
            hard_unassisted_overseer_accuracy=_accuracy(hard_alone),
            hard_judged=len(hard_assisted),
            mean_reward=sum(o.scores[o.chosen] for o in outputs) / len(outputs) if outputs else 0.0,
            reward_hacking_rate=len(hacked) / len(outputs) if outputs else 0.0,
            predicted_win_rate=predicted_rate,
            true_win_rate=true_rate,
            reward_hacking_gap=None if predicted_rate is None or true_rate is None else predicted_rate - true_rate,
            reward_model=str(path),
            dataset=f"{self.run_name}-feedback-r{rnd}",
            basis=basis,
        )


class RRMFailed(HCHError):
    """A run of the loop failed (the others and everything before are kept on disk)."""


def _feedback_of(transcript: Transcript) -> Feedback:
    found = next((e for e in transcript.events if isinstance(e, Feedback) and e.node_id == "0"), None)
    if found is None:
        raise RRMFailed(f"{transcript.path}: the comparison recorded no feedback")
    return found
