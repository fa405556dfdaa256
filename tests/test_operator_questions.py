"""The questions an operator works on: seeded task instances, or a JSONL file of free text."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.common import flag
from hch.app.evaluate import instances
from hch.errors import UsageError
from hch.tasks import find_task
from operators.questions import question_set


def test_the_same_seed_gives_the_same_questions_as_eval() -> None:
    a = question_set("permutation", 10, 4, 64, None)
    b = question_set("permutation", 10, 4, 64, None)
    assert a.texts == b.texts
    assert a.instances == instances(find_task("permutation"), 10, 4, 64)
    assert question_set("permutation", 5, 4, 64, None).texts == a.texts[:5]  # instance i is fixed whatever n is
    assert question_set("permutation", 10, 5, 64, None).texts != a.texts


def test_a_questions_file_is_read_strictly(tmp_path: Path) -> None:
    good = tmp_path / "q.jsonl"
    good.write_text('{"question": "Why?", "reference": "Because."}\n\n{"question": "How?"}\n')
    qs = question_set(None, 10, 0, 64, good)
    assert qs.task is None and qs.texts == ["Why?", "How?"] and qs.free[0].reference == "Because."
    assert question_set(None, 1, 0, 64, good, limit_free=True).texts == ["Why?"]
    cases = {
        '{"question": "a"}\n{"question": \n': r"q\.jsonl:2: not JSON",
        '["a"]\n': r"q\.jsonl:1: expected a JSON object",
        '{"q": "a"}\n': r"q\.jsonl:1: question: Field required",
        '{"question": "  "}\n': r"q\.jsonl:1: the question is empty",
        "\n\n": r"holds no questions",
    }
    for text, message in cases.items():
        good.write_text(text)
        with pytest.raises(UsageError, match=message):
            question_set(None, 10, 0, 64, good)


def test_the_options_must_name_one_source() -> None:
    with pytest.raises(UsageError, match=r"^give task NAME .* or questions FILE"):
        question_set(None, 10, 0, 64, None)
    with pytest.raises(UsageError, match=r"^give --task NAME .* or --questions FILE"):  # as the command line says it
        question_set(None, 10, 0, 64, None, label=flag)
    with pytest.raises(UsageError, match=r"^n must be at least 1"):
        question_set("wildcard", 0, 0, 64, None)
    with pytest.raises(UsageError, match="unknown task"):
        question_set("nope", 3, 0, 64, None)
