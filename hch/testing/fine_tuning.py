"""The fault server's files and fine-tuning jobs routes, in OpenAI's shape.

``POST /v1/files`` (multipart: ``purpose`` and ``file``) stores an upload;
``POST /v1/fine_tuning/jobs`` creates a job on an uploaded file;
``GET /v1/fine_tuning/jobs`` lists jobs and ``GET /v1/fine_tuning/jobs/ID``
returns one, each retrieval moving it one step along validating_files ->
queued -> running -> succeeded (with a ``fine_tuned_model`` name). Nothing is
trained: the routes exist so the client side can be tested against real HTTP.
A server configured without them answers 404, as vLLM, llama.cpp and Ollama do.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

STEPS = ("validating_files", "queued", "running", "succeeded")

Response = tuple[int, dict[str, Any]]


def _error(status: int, message: str, code: str | None = None) -> Response:
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


@dataclass
class FineTuningStore:
    """Uploaded files and jobs, shared by the server's handler threads."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def upload(self, content_type: str, body: bytes) -> Response:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            return _error(400, "expected multipart/form-data with 'purpose' and 'file'")
        purpose, filename, data = None, None, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            if name == "purpose":
                purpose = payload.decode()
            elif name == "file":
                filename = part.get_filename() or "upload.jsonl"
                data = payload
        if purpose != "fine-tune" or data is None:
            return _error(400, "a fine-tune upload needs purpose=fine-tune and a file")
        file_id = f"file-{hashlib.sha256(data).hexdigest()[:24]}"
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        with self.lock:
            self.files[file_id] = record
            self.contents[file_id] = data
        return 200, record

    def create_job(self, body: bytes, models: list[str] | None) -> Response:
        try:
            request = json.loads(body)
            training_file = request["training_file"]
            model = request["model"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "a job needs 'training_file' and 'model'")
        if models is not None and model not in models:
            return _error(
                404, f"The model '{model}' does not exist or you do not have access to it.", "model_not_found"
            )
        with self.lock:
            if training_file not in self.files:
                return _error(400, f"invalid training_file: {training_file}")
            job_id = f"ftjob-{len(self.jobs) + 1:06d}"
            suffix = request.get("suffix") or "hch"
            job: dict[str, Any] = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
                "model": model,
                "organization_id": "org-fault-server",
                "result_files": [],
                "seed": 0,
                "status": STEPS[0],
                "trained_tokens": None,
                "training_file": training_file,
                "validation_file": None,
                "suffix": suffix,
            }
            self.jobs[job_id] = job
            return 200, dict(job)

    def retrieve(self, job_id: str) -> Response:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"No fine-tuning job with id {job_id!r}.", "fine_tuning_job_not_found")
            step = STEPS.index(job["status"])
            if step + 1 < len(STEPS):
                job["status"] = STEPS[step + 1]
                if job["status"] == "succeeded":
                    job["fine_tuned_model"] = f"ft:{job['model']}:{job['suffix']}:{job_id}"
                    job["finished_at"] = int(time.time())
                    job["trained_tokens"] = len(self.contents[job["training_file"]]) // 4
            return 200, dict(job)

    def list_jobs(self) -> Response:
        with self.lock:
            data = [dict(j) for j in self.jobs.values()]
        return 200, {"object": "list", "data": data, "has_more": False}
