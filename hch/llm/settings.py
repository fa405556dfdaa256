"""How model calls are made: endpoint, model, sampling, retries, concurrency, cache.

The API key is deliberately *not* a setting. Settings are recorded in transcript
headers and parts of them go into cache keys, so anything stored here must be
safe to write to disk and to show. The key is read from the environment variable
named by ``api_key_env`` only when the client is built (see
:class:`hch.llm.client.LLMClient`) and lives nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hch.errors import Label, UsageError, by_name, validation_summary
from hch.llm.urls import public_url, secret_query_names

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""What the OpenAI SDK itself uses when no base URL is given."""


REMOTE_CONCURRENCY = 32
"""Default model calls in flight for an endpoint given by URL. A hosted API or a
serving engine (vLLM, llama.cpp's server with slots, Ollama) batches or queues
concurrent requests, and a tree of depth 5 and branching 3 has 243 leaf calls
ready at once: at 4 in flight it took 2.8x the time it takes at 32 (issue 12). A
server that answers 429 slows the client down (:mod:`hch.llm.retry`). The embedded
model has its own default, its server's slot count
(:data:`hch.llm.embedded.EMBEDDED_SLOTS`)."""


class LLMSettings(BaseModel):
    """Settings of the one :class:`~hch.llm.client.LLMClient` of a run."""

    # Not inf or nan: settings are recorded as JSON, which has neither (pydantic writes them as null,
    # and a transcript whose settings say null can never be replayed or resumed).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    base_url: str = DEFAULT_BASE_URL
    model: str
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int | None = Field(default=None, ge=1)
    """None: the server's default (not sent)."""
    seed: int | None = None
    """Sent as ``seed + sample`` so that distinct samples differ at servers that honour seeds."""
    timeout_s: float = Field(default=60.0, gt=0.0)
    """Per attempt: no response within this long counts as a (retried) timeout."""
    max_attempts: int = Field(default=6, ge=1)
    """Failed attempts after which a call gives up; 429s do not count (``max_wait_s`` bounds them)."""
    max_wait_s: float = Field(default=60.0, ge=0.0, allow_inf_nan=False)
    """Cap on the total time one call spends waiting between attempts (Retry-After included)."""
    backoff_base_s: float = Field(default=0.5, ge=0.0)
    """First backoff; it doubles per attempt (with jitter) up to ``backoff_max_s``."""
    backoff_max_s: float = Field(default=20.0, ge=0.0)
    concurrency: int = Field(default=REMOTE_CONCURRENCY, ge=1)
    """Model calls in flight at once (nodes are not limited: see the client); the client's
    connection pool has as many connections."""
    cache: bool = True
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (the name, never the key)."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        # Messages show public_url(value): a refused URL may carry the very key it leaks.
        try:
            parts = urlsplit(value)
            hostname = parts.hostname
        except ValueError:
            hostname = None
        if hostname is None or parts.scheme not in ("http", "https"):
            shown = public_url(value)
            raise ValueError(f"base URL must be an http(s) URL such as http://127.0.0.1:8000/v1, got {shown!r}")
        # The base URL is written into transcripts and cache keys: a URL that
        # carries credentials would leak them there.
        if "@" in parts.netloc:
            raise ValueError("base URL must not contain credentials; put the key in the API key variable")
        secrets = secret_query_names(value)
        if secrets:
            raise ValueError(
                f"base URL must not carry credentials in its query ({', '.join(secrets)}); "
                "put the key in the API key variable"
            )
        if parts.query:
            # The OpenAI client appends /chat/completions after the query string: it would never reach the server.
            raise ValueError(f"base URL must not have a query string (?{parts.query}): the client cannot send it")
        # One spelling per endpoint, so that ".../v1" and ".../v1/" share cache entries.
        return value.rstrip("/")

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model name is empty")
        return value

    @classmethod
    def resolve(
        cls,
        *,
        model: str | None = None,
        base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        label: Label = by_name,
        **overrides: Any,
    ) -> LLMSettings:
        """Settings from options, falling back to the environment.

        ``model``: the flag, else ``$HCH_MODEL``. ``base_url``: the flag, else
        ``$HCH_BASE_URL``, else ``$OPENAI_BASE_URL``, else OpenAI's endpoint.
        ``overrides`` are other fields (None values are ignored, so optional
        flags can be passed straight through). Raises :class:`UsageError` with
        a one-line message for a missing model or a bad value (naming the
        option through ``label``).
        """
        env = os.environ if environ is None else environ
        chosen_model = model or env.get("HCH_MODEL")
        if not chosen_model:
            raise UsageError(f"no model given: name one with {label('model')} or set HCH_MODEL")
        chosen_url = base_url or env.get("HCH_BASE_URL") or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        fields = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(model=chosen_model, base_url=chosen_url, **fields)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise UsageError(one_line_validation_error(exc)) from None

    def public(self) -> dict[str, Any]:
        """The JSON-able settings recorded in a transcript header (holds no secret)."""
        return self.model_dump(mode="json")


def one_line_validation_error(exc: ValueError) -> str:
    """Pydantic's errors about model settings in one line, without the input values it would quote."""
    return f"bad model settings: {validation_summary(exc)}"
