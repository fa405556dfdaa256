"""Plugging in one's own distiller: one class, here training through the endpoint's fine-tuning jobs API."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hch.app.spec import DistilledSpec
from hch.llm.settings import LLMSettings
from hch.testing import FaultConfig, FaultServer
from operators.batch import open_batch
from operators.dataset import Dataset
from operators.imitative import finetune
from operators.imitative.chat import write_chat_file
from operators.imitative.distill import Distiller
from operators.imitative.examples import ImitationExample
from operators.imitative.free import FreeIterateSettings, iterate_free
from tests.audit_helpers import BranchingPolicy, hch


@dataclass
class JobsApiDistiller:
    """Exports the dataset as chat JSONL, fine-tunes on it at the endpoint, and returns the trained model."""

    settings: LLMSettings
    name: str = "jobs-api"
    jobs: list[str] = field(default_factory=list)

    async def distill(self, dataset: Dataset) -> DistilledSpec:
        chat = dataset.folder / "chat.jsonl"
        examples = await asyncio.to_thread(dataset.examples, ImitationExample)
        await asyncio.to_thread(write_chat_file, examples, chat)
        job = await finetune.submit(self.settings, chat, suffix=dataset.name)
        self.jobs.append(job.id)
        while job.status != "succeeded":
            job = await finetune.status(self.settings, job.id)
        assert job.fine_tuned_model is not None
        sha = dataset.manifest.examples_sha256
        return DistilledSpec(kind="endpoint", dataset=dataset.name, sha256=sha, model=job.fine_tuned_model)


def test_a_distiller_of_ones_own_trains_each_round_and_its_model_answers_the_next(hch_home: Path) -> None:
    policy = BranchingPolicy(fanout=(2,))

    def answer(messages: list[dict[str, Any]]) -> str:
        return policy(messages)

    with FaultServer(FaultConfig(fine_tuning=True, models=None), answer=answer) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, cache=False, concurrency=4)
        distiller = JobsApiDistiller(settings)
        assert isinstance(distiller, Distiller)
        run = FreeIterateSettings(
            name="own",
            questions=[f"Q{i}" for i in range(3)],
            references=[None, None, None],
            rounds=2,
            llm=settings,
        )

        async def go() -> Any:
            async with open_batch([], settings=settings) as batch:
                return await iterate_free(run, batch=batch, distiller=distiller)

        report = asyncio.run(go())
        assert len(distiller.jobs) == 2 and [r.round for r in report.rounds] == [1, 2]
        trained = f"ft:{server.model}:own-r1:{distiller.jobs[0]}"
        # Round 2 amplified M_1, the model the job trained: its leaves were asked as that model.
        transcript = hch_home / "datasets" / "own-r2" / "transcripts" / "000000.jsonl"
        lines = [json.loads(line) for line in transcript.read_text().splitlines()]
        assert lines[0]["settings"]["spec"]["distilled"] == {
            "kind": "endpoint",
            "dataset": "own-r1",
            "sha256": lines[0]["settings"]["spec"]["distilled"]["sha256"],
            "k": 4,
            "model": trained,
        }
        models = [e["request"]["model"] for e in lines if e["kind"] == "model_call"]
        assert trained in models and server.model in models  # the overseer is the base model, M is the trained one
        proc = hch("replay", str(transcript), "--json", home=hch_home)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["identical"] is True
