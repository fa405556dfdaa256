"""Credentials in a base URL (userinfo, key-like query parameters) never reach a transcript, a cache
entry, an error line or a log.

Such a URL is refused with a one-line error that does not show the key (the key
belongs in the API key variable; the OpenAI client could not even send a query
string: it appends the path after it), and every message that shows a URL shows
it without credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hch.llm import LLMClient, LLMSettings
from hch.llm.urls import public_url
from hch.testing import FaultConfig, FaultServer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-0123456789abcdef"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (f"http://h:8000/v1?api-key={SECRET}", "http://h:8000/v1"),
        (f"http://h/v1?api-version=2024-06-01&api-key={SECRET}", "http://h/v1?api-version=2024-06-01"),
        (f"https://h/v1?key={SECRET}&x=1&access_token={SECRET}", "https://h/v1?x=1"),
        (f"https://h/v1?token={SECRET}&sig={SECRET}&Secret={SECRET}&code={SECRET}", "https://h/v1"),
        (f"https://user:{SECRET}@h/v1", "https://h/v1"),
        (f"https://{SECRET}@h:9/v1?apikey={SECRET}#frag", "https://h:9/v1#frag"),
    ],
)
def test_credentials_are_stripped(given: str, shown: str) -> None:
    assert public_url(given) == shown
    assert SECRET not in public_url(given)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "http://h/v1?api-version=2024-06-01&b=%20x", "http://h"],
)
def test_a_url_without_credentials_is_left_exactly_as_it_was(url: str) -> None:
    # The recorded base URL is part of every request hash: changing it would empty everyone's cache.
    assert public_url(url) == url
    if "?" not in url:
        client = LLMClient(LLMSettings(base_url=url, model="m", cache=False), environ={})
        assert client.request_for([{"role": "user", "content": "q"}])["base_url"] == url


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
    env.update(HCH_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def everything_written(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_a_key_in_the_query_string_is_refused_and_never_recorded_or_printed(hch_home: Path) -> None:
    with FaultServer(FaultConfig(models=None)) as server:
        for url in (f"{server.base_url}?api-key={SECRET}", f"{server.base_url}?api-version=1&access_token={SECRET}"):
            proc = hch(
                "run", "Q", "--overseer", "llm", "--model", "m", "--base-url", url, "--depth", "1", home=hch_home
            )
            assert proc.returncode == 2, proc.stderr
            assert "must not carry credentials in its query" in proc.stderr
            assert SECRET not in proc.stdout + proc.stderr
        # From the environment too.
        env_url = f"{server.base_url}?key={SECRET}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HCH_"))}
        env.update(HCH_HOME=str(hch_home), HCH_BASE_URL=env_url, HCH_MODEL="m")
        proc = subprocess.run(
            [sys.executable, "-m", "cli", "run", "Q", "--overseer", "llm"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2 and SECRET not in proc.stderr + proc.stdout
        assert server.counters()["requests"] == 0
    assert not hch_home.exists() or SECRET.encode() not in everything_written(hch_home)


def test_a_recorded_url_with_a_key_is_refused_on_replay_without_showing_it(tmp_path: Path, hch_home: Path) -> None:
    """A transcript written before this rule may hold such a URL; its error line must not repeat the key."""
    with FaultServer(FaultConfig(models=None)) as server:
        proc = hch("run", "Q", "--overseer", "llm", "--model", "m", "--base-url", server.base_url, "--depth", "1",
                   "--json", home=hch_home)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        url = server.base_url
    path = Path(json.loads(proc.stdout)["transcript"])
    text = path.read_text().replace(f'"base_url":"{url}"', f'"base_url":"{url}?key={SECRET}"')
    assert SECRET in text
    old = tmp_path / "old.jsonl"
    old.write_text(text)
    proc = hch("replay", str(old), "--trust-edited", home=hch_home)
    assert proc.returncode == 2 and "recorded model settings are invalid" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout


def test_a_bad_url_is_refused_without_echoing_its_credentials(hch_home: Path) -> None:
    for url in (f"ftp://user:{SECRET}@h/v1", f"http://user:{SECRET}@h/v1", f"nonsense?token={SECRET}"):
        proc = hch("run", "Q", "--overseer", "llm", "--model", "m", "--base-url", url, home=hch_home)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and SECRET not in proc.stderr
