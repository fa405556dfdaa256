"""Submitting a chat fine-tuning file to an endpoint's files + fine-tuning jobs API, and polling the job.

Only some endpoints offer the API (OpenAI's, now closed to new users, and
some hosted services); vLLM, llama.cpp's servers and Ollama have none, and
answer 404. That is reported as :class:`NoFineTuningAPI`, whose message says
to train the file locally with TRL (docs/operators.md shows how).

The calls go through the openai client, with the same settings (endpoint,
key variable, timeout) as the run's model calls; the key is read from the
environment, never printed or recorded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from hch.errors import HCHError
from hch.llm.settings import LLMSettings

NO_API = (
    "{url} has no fine-tuning API (it answered 404 to {what}); train the file locally with TRL's SFTTrainer "
    "instead: see docs/operators.md, 'Training the chat file locally'"
)


class NoFineTuningAPI(HCHError):
    """The endpoint has no files / fine-tuning jobs routes."""


class FineTuningError(HCHError):
    """The endpoint refused or failed a fine-tuning request (the message is its own, in one line)."""


@dataclass(frozen=True)
class Job:
    """What the endpoint says about a fine-tuning job."""

    id: str
    status: str
    model: str
    training_file: str | None
    fine_tuned_model: str | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "training_file": self.training_file,
            "fine_tuned_model": self.fine_tuned_model,
            "error": self.error,
        }


def _client(settings: LLMSettings, environ: Mapping[str, str] | None) -> openai.AsyncOpenAI:
    env = os.environ if environ is None else environ
    return openai.AsyncOpenAI(
        base_url=settings.base_url,
        api_key=env.get(settings.api_key_env) or "not-set",
        max_retries=2,
        timeout=settings.timeout_s,
    )


def _job(raw: Any) -> Job:
    error = getattr(raw, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    return Job(
        id=str(raw.id),
        status=str(raw.status),
        model=str(raw.model),
        training_file=getattr(raw, "training_file", None),
        fine_tuned_model=getattr(raw, "fine_tuned_model", None),
        error=message,
    )


def _one_line(exc: openai.APIError) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return " ".join(text.split())


@asynccontextmanager
async def _api(settings: LLMSettings, environ: Mapping[str, str] | None) -> AsyncIterator[openai.AsyncOpenAI]:
    """A client of the settings' endpoint, closed after use; the SDK's other errors become one-line FineTuningErrors."""
    client = _client(settings, environ)
    try:
        yield client
    except openai.APIConnectionError as exc:
        raise FineTuningError(f"cannot connect to {settings.base_url}: {_one_line(exc)}") from None
    except openai.APIError as exc:
        raise FineTuningError(f"{settings.base_url}: {_one_line(exc)}") from None
    finally:
        await client.close()


async def submit(
    settings: LLMSettings,
    path: Path,
    *,
    model: str | None = None,
    suffix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Job:
    """Upload ``path`` (purpose ``fine-tune``) and create a job on ``model`` (default: the settings' model)."""
    content = await asyncio.to_thread(path.read_bytes)
    async with _api(settings, environ) as client:
        try:
            uploaded = await client.files.create(file=(path.name, content), purpose="fine-tune")
        except openai.NotFoundError:
            raise NoFineTuningAPI(NO_API.format(url=settings.base_url, what="POST /files")) from None
        try:
            created = await client.fine_tuning.jobs.create(
                training_file=uploaded.id, model=model or settings.model, suffix=suffix
            )
        except openai.NotFoundError as exc:
            if exc.code == "model_not_found":
                raise FineTuningError(f"{settings.base_url}: {_one_line(exc)}") from None
            raise NoFineTuningAPI(NO_API.format(url=settings.base_url, what="POST /fine_tuning/jobs")) from None
        return _job(created)


async def status(settings: LLMSettings, job_id: str, *, environ: Mapping[str, str] | None = None) -> Job:
    """The job's current state."""
    async with _api(settings, environ) as client:
        try:
            return _job(await client.fine_tuning.jobs.retrieve(job_id))
        except openai.NotFoundError as exc:
            missing = exc
        # No such job, or no such API? An endpoint with the API can list its jobs.
        try:
            await client.fine_tuning.jobs.list(limit=1)
        except openai.NotFoundError:
            raise NoFineTuningAPI(NO_API.format(url=settings.base_url, what="GET /fine_tuning/jobs")) from None
        raise FineTuningError(f"{settings.base_url}: no job {job_id!r}: {_one_line(missing)}") from None
