"""Prompt rendering and the conversations built from it: what is rendered once must not change what is sent."""

from __future__ import annotations

from collections.abc import Callable
from string import Template

import pytest

from hch.llm.overseer import STRUCTURED_OUTPUTS, Caller, StructuredOutput
from hch.llm.prompts import DEFAULT_PROMPTS, Prompts, render
from hch.testing import ScriptedChat

TEMPLATES = [
    "",
    "no placeholders",
    "$a and ${b}x and $a again",
    "$$ is a dollar, $$$a is one before a value",
    "$a_b $ab $a",
    "a trailing $",
    "$1 is not a name",
    "${a is not closed",
    "{$a}",
]


def _outcome(call: Callable[[], str]) -> tuple[str, str]:
    try:
        return "ok", call()
    except (KeyError, ValueError) as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("values", [{"a": 1, "b": "B", "a_b": "Z", "ab": 3.5}, {"a": "only a"}])
def test_render_is_string_template_substitution_results_and_errors(template: str, values: dict[str, object]) -> None:
    expected = _outcome(lambda: Template(template).substitute({k: str(v) for k, v in values.items()}))
    assert _outcome(lambda: render(template, **values)) == expected


def _rendered_afresh(caller: Caller, kind: str, question: str) -> list[dict[str, str]]:
    """The conversation rendered from the templates alone, as every call once rendered it."""
    fresh = Caller(caller.client, caller.prompts, caller.output)
    if kind == "answer":
        return fresh.direct_messages(question)
    if kind == "decompose":
        return fresh.decompose_messages(question, 2)
    return fresh.combine_messages(question, [("sub?", "its answer")])


def _conversation(caller: Caller, kind: str, question: str) -> list[dict[str, str]]:
    if kind == "answer":
        return caller.direct_messages(question)
    if kind == "decompose":
        return caller.decompose_messages(question, 2)
    return caller.combine_messages(question, [("sub?", "its answer")])


@pytest.mark.parametrize("kind", ["answer", "decompose", "combine"])
def test_a_changed_conversation_does_not_change_the_next(kind: str) -> None:
    caller = Caller(ScriptedChat(lambda call: ""), DEFAULT_PROMPTS, "json_schema")
    first = _conversation(caller, kind, "first?")
    first[0]["content"] = "changed by the caller"
    first[1]["role"] = "system"
    first.append({"role": "user", "content": "more"})
    second = _conversation(caller, kind, "second?")
    assert second == _rendered_afresh(caller, kind, "second?")
    assert second[0]["content"] != "changed by the caller"
    assert second[-1]["content"].startswith("Question: second?")


@pytest.mark.parametrize("output", STRUCTURED_OUTPUTS)
@pytest.mark.parametrize("kind", ["answer", "decompose", "combine"])
def test_replacing_the_format_or_the_prompts_renders_the_openings_again(output: StructuredOutput, kind: str) -> None:
    caller = Caller(ScriptedChat(lambda call: ""), DEFAULT_PROMPTS, "json_schema")
    _conversation(caller, kind, "q?")
    caller.output = output
    assert _conversation(caller, kind, "q?") == _rendered_afresh(caller, kind, "q?")
    caller.prompts = Prompts(direct_system="D $format", decompose_system="S $format", combine_system="C $format")
    after = _conversation(caller, kind, "q?")
    assert after == _rendered_afresh(caller, kind, "q?")
    assert after[0]["content"][:2] in ("D ", "S ", "C ")
