"""Loading instances from JSON files: the shipped examples, and precise errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hch
from hch.errors import UsageError
from hch.tasks import Instance, find_task, load_instances

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "tasks.md"

# The answers stated in docs/tasks.md for the example files.
EXPECTED = {
    "permutation.json": {"s^0(3)": "3", "s^1(3)": "0", "s^2(3)": "5", "s^5(1)": "2", "s^13(6)": "6", "s^40(2)": "2"},
    "assignments.json": {"value(x)": "3", "value(y)": "6", "value(a)": "1", "value(c)": "0", "value(e)": "4"},
    "wildcard.json": {
        "sum(abc)": "-1",
        "sum(bbb)": "0",
        "sum(*ab)": "3",
        "sum(c**)": "1",
        "sum(***)": "2",
        "sum(0**1)": "-1",
        "sum(****)": "1",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_examples_load_and_run(name: str, tmp_path: Path) -> None:
    instances = load_instances(EXAMPLES / name)
    assert {i.question: find_task(i.task).solve(i.facts, i.question) for i in instances} == EXPECTED[name]
    for n, instance in enumerate(instances):
        task = find_task(instance.task)
        depth = task.depth_needed(instance.facts, instance.question)
        model = hch.hch_tree(task.overseer(instance.facts), task.oracle(instance.facts), depth)
        result = await hch.run_question(model, instance.question, transcript=tmp_path / f"{n}.jsonl")
        assert result.answer == EXPECTED[name][instance.question]


def test_docs_show_the_example_files() -> None:
    docs = DOCS.read_text()
    for name in EXPECTED:
        assert (EXAMPLES / name).read_text().strip() in docs, name


def write(tmp_path: Path, content: object | str, name: str = "instances.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


GOOD = {"task": "permutation", "facts": {"permutation": [1, 0]}, "questions": ["s^3(0)", "s^0(1)"]}


def test_single_object_and_array(tmp_path: Path) -> None:
    single = load_instances(write(tmp_path, GOOD))
    assert single == [
        Instance("permutation", {"permutation": [1, 0]}, "s^3(0)"),
        Instance("permutation", {"permutation": [1, 0]}, "s^0(1)"),
    ]
    other = {"task": "wildcard", "facts": {"alphabet": "ab", "strings": {"ab": 1}}, "questions": ["sum(*b)"]}
    both = load_instances(write(tmp_path, [GOOD, other], "both.json"))
    assert [(i.task, i.question) for i in both] == [
        ("permutation", "s^3(0)"),
        ("permutation", "s^0(1)"),
        ("wildcard", "sum(*b)"),
    ]


BAD_FILES: list[tuple[object | str, str]] = [
    ('{"task": "permutation",\n  "facts": {\n    "permutation": [1 0]}}', "not JSON (line 3 column 23: "),
    ('{"task": "wildcard", "facts": {"alphabet": "a", "strings": {"a": NaN}}, "questions": []}', "NaN is not"),
    ("[]", "is an empty array (no instances)"),
    ('"permutation"', "expected an object or an array of objects, got a string"),
    ({"task": "permutation", "questions": ["s^1(0)"]}, "instances.json: missing 'facts'"),
    ({**GOOD, "question": "s^1(0)"}, "unknown key 'question' (expected 'task', 'facts', 'questions', 'comment')"),
    ({**GOOD, "task": "sorting"}, "task: unknown task 'sorting'; known tasks: permutation, assignments, wildcard"),
    ({**GOOD, "task": 3}, "task: expected a task name, got an integer"),
    (
        {**GOOD, "facts": {"permutation": [0, 0]}},
        "instances.json: facts.permutation: not a permutation: 0 appears twice",
    ),
    ({**GOOD, "questions": "s^1(0)"}, "questions: expected an array of question strings, got a string"),
    ({**GOOD, "questions": []}, "questions: is empty"),
    ({**GOOD, "questions": ["s^1(0)", 5]}, "questions[1]: expected a string, got an integer"),
    (
        {**GOOD, "questions": ["s^1(0)", "s(0)"]},
        "instances.json: questions[1]: cannot parse question 's(0)' for task permutation: expected s^N(X)",
    ),
    ({**GOOD, "questions": ["s^1(5)"]}, "questions[0]: question 's^1(5)': element 5 is out of range 0..1"),
    ([GOOD, {**GOOD, "facts": {}}], "instances.json: [1].facts: missing 'permutation'"),
    ([GOOD, 7], "instances.json: [1]: expected a JSON object, got an integer"),
    ([GOOD, {**GOOD, "questions": ["x"]}], "instances.json: [1].questions[0]: cannot parse question 'x'"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES, ids=[m[:40] for _, m in BAD_FILES])
def test_bad_files_are_rejected(tmp_path: Path, content: object | str, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(UsageError) as err:
        load_instances(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.json: cannot read \(No such file or directory\)"):
        load_instances(tmp_path / "missing.json")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"task": "caf\xe9"}')
    with pytest.raises(UsageError, match=r"latin1\.json: not UTF-8 text \(byte 13\)"):
        load_instances(path)
