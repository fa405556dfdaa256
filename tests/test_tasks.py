"""The algorithmic tasks: HCH at the depth needed answers exactly, one level less does not;
the ground truth agrees with brute force; bad facts and questions are rejected precisely."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

import hch
from hch.errors import UsageError
from hch.playback import Divergence, Playback
from hch.tasks import ALL_TASKS, ASSIGNMENTS, PERMUTATION, UNKNOWN, WILDCARD, Instance, Task, find_task
from hch.tasks.base import parse_answer
from transcripts.chain import request_hash
from transcripts.events import EVENT_ADAPTER, OracleCall

SEEDS = range(12)
TASK_IDS = [task.name for task in ALL_TASKS]


async def run(
    task: Task,
    facts: dict[str, Any],
    question: str,
    depth: int,
    transcript: Path,
    **options: Any,
) -> hch.RunResult:
    model = hch.hch_tree(task.overseer(facts), task.oracle(facts), depth)
    return await hch.run_question(model, question, transcript=transcript, **options)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- HCH answers exactly at depth_needed, and not one level below -------------------------


@pytest.mark.parametrize("task", ALL_TASKS, ids=TASK_IDS)
async def test_depth_needed_is_exactly_enough(task: Task, tmp_path: Path) -> None:
    depths = set()
    for seed in SEEDS:
        instance = task.generate(random.Random(seed))
        truth = task.solve(instance.facts, instance.question)
        depth = task.depth_needed(instance.facts, instance.question)
        depths.add(depth)
        exact = await run(task, instance.facts, instance.question, depth, tmp_path / f"{seed}.jsonl")
        assert exact.answer == truth, (seed, instance.question)
        if depth > 0:
            short = await run(task, instance.facts, instance.question, depth - 1, tmp_path / f"{seed}-short.jsonl")
            assert short.answer == UNKNOWN, (seed, instance.question)
            assert short.answer != truth
    # The seeds must exercise real trees, not only lookups.
    assert max(depths) >= 3


@pytest.mark.parametrize("task", ALL_TASKS, ids=TASK_IDS)
async def test_deeper_trees_still_answer_exactly(task: Task, tmp_path: Path) -> None:
    for seed in range(4):
        instance = task.generate(random.Random(100 + seed), size=16)
        depth = task.depth_needed(instance.facts, instance.question) + 2
        result = await run(task, instance.facts, instance.question, depth, tmp_path / f"{seed}.jsonl")
        assert result.answer == task.solve(instance.facts, instance.question)


async def test_every_lookup_is_recorded(tmp_path: Path) -> None:
    facts = {"alphabet": "ab", "strings": {"aa": 1, "ab": -1, "ba": 1}}
    result = await run(WILDCARD, facts, "sum(**)", 2, tmp_path / "t.jsonl")
    assert result.answer == "1"
    # 1 + 2 + 4 nodes; the four leaves are M0 lookups.
    assert result.nodes == 7
    lookups = [e for e in events(result.transcript) if e["kind"] == "oracle_call"]
    assert sorted((e["question"], e["answer"]) for e in lookups) == [
        ("sum(aa)", "1"),
        ("sum(ab)", "-1"),
        ("sum(ba)", "1"),
        ("sum(bb)", "0"),
    ]
    for e in lookups:
        assert e["request_hash"] == request_hash({"oracle": e["question"]})


async def test_wildcard_tree_size(tmp_path: Path) -> None:
    instance = WILDCARD.generate(random.Random(3))
    pattern = "***" + next(iter(instance.facts["strings"]))[3]
    result = await run(WILDCARD, instance.facts, f"sum({pattern})", 3, tmp_path / "t.jsonl")
    assert result.nodes == 1 + 4 + 16 + 64
    assert result.answer == WILDCARD.solve(instance.facts, f"sum({pattern})")


async def test_assignments_overseer_looks_up_definitions_and_shares_parts(tmp_path: Path) -> None:
    facts = {"variables": {"x": 5, "a": ["x", "x"], "b": ["a", "x"]}}
    result = await run(ASSIGNMENTS, facts, "value(b)", 2, tmp_path / "t.jsonl")
    assert result.answer == str((5 + 5 + 5) % 8)
    log = events(result.transcript)
    questions = [e["question"] for e in log if e["kind"] == "oracle_call"]
    assert "definition(b)" in questions and "definition(a)" in questions
    # a = x + x is asked as one subquestion, not two.
    asks = {e["node_id"]: e["questions"] for e in log if e["kind"] == "ask"}
    assert ["value(x)"] in asks.values()


async def test_oracle_answers_unknown_to_what_it_cannot_look_up(tmp_path: Path) -> None:
    facts = {"permutation": [1, 2, 0]}
    for question, answer in [
        ("s^1(0)", "1"),
        ("s^0(2)", "2"),
        ("s^2(0)", UNKNOWN),
        ("s^1(9)", UNKNOWN),
        ("hi", UNKNOWN),
    ]:
        result = await run(PERMUTATION, facts, question, 0, tmp_path / f"{question}.jsonl")
        assert result.answer == answer, question
        assert result.calls == 1


async def test_overseer_answers_unknown_to_malformed_questions(tmp_path: Path) -> None:
    result = await run(PERMUTATION, {"permutation": [1, 0]}, "what is s^4(0)?", 3, tmp_path / "t.jsonl")
    assert result.answer == UNKNOWN
    assert result.nodes == 1


# --- bounds: the overseer never overasks; it answers "unknown" instead -----------------


async def test_too_few_subquestions_gives_unknown_not_an_error(tmp_path: Path) -> None:
    facts = {"alphabet": "abc", "strings": {"ab": 1, "cb": 1}}
    result = await run(WILDCARD, facts, "sum(*b)", 1, tmp_path / "a.jsonl", max_subquestions=2)
    assert result.answer == UNKNOWN
    result = await run(WILDCARD, facts, "sum(*b)", 1, tmp_path / "b.jsonl", max_subquestions=3)
    assert result.answer == "2"


@pytest.mark.parametrize("task", ALL_TASKS, ids=TASK_IDS)
async def test_small_budgets_give_exact_or_unknown(task: Task, tmp_path: Path) -> None:
    instance = task.generate(random.Random(7), size=16)
    depth = task.depth_needed(instance.facts, instance.question)
    truth = task.solve(instance.facts, instance.question)
    full = await run(task, instance.facts, instance.question, depth, tmp_path / "full.jsonl")
    answers = set()
    # A bounded run may need more than the unbounded run spent: subquestions
    # are shared only under the same budget share, so bounded runs share less.
    for budget in range(1, 2 * full.spent + 8):
        result = await run(task, instance.facts, instance.question, depth, tmp_path / f"{budget}.jsonl", budget=budget)
        assert result.spent <= budget
        assert result.answer in (truth, UNKNOWN)
        answers.add(result.answer)
    ample = await run(task, instance.facts, instance.question, depth, tmp_path / "ample.jsonl", budget=10**6)
    assert ample.answer == truth
    if depth > 0:
        assert UNKNOWN in answers  # a budget of 1 is not enough


# --- replay: lookups take recorded answers ---------------------------------------------


async def test_lookup_uses_recorded_answer(tmp_path: Path) -> None:
    facts = {"permutation": [1, 2, 0]}
    recorded = OracleCall(node_id="0", request_hash=request_hash({"oracle": "s^1(0)"}), question="s^1(0)", answer="2")
    playback = Playback.from_events([recorded], strict=True)
    result = await run(PERMUTATION, facts, "s^1(0)", 0, tmp_path / "t.jsonl", playback=playback)
    assert result.answer == "2"  # the record, not the fact table's 1


async def test_replay_reproduces_a_run_and_detects_divergence(tmp_path: Path) -> None:
    instance = ASSIGNMENTS.generate(random.Random(5))
    depth = ASSIGNMENTS.depth_needed(instance.facts, instance.question)
    first = await run(ASSIGNMENTS, instance.facts, instance.question, depth, tmp_path / "a.jsonl")
    recorded = [EVENT_ADAPTER.validate_python(e) for e in events(first.transcript)]
    replay = await run(
        ASSIGNMENTS,
        instance.facts,
        instance.question,
        depth,
        tmp_path / "b.jsonl",
        playback=Playback.from_events(recorded, strict=True),
    )
    assert replay.answer == first.answer
    assert replay.counts == first.counts
    # A question none of whose lookups were recorded cannot be replayed.
    looked_up = {e.question for e in recorded if isinstance(e, OracleCall)}
    unrecorded = next(
        v for v in instance.facts["variables"] if f"value({v})" not in looked_up and f"definition({v})" not in looked_up
    )
    with pytest.raises(Divergence):
        await run(
            ASSIGNMENTS,
            instance.facts,
            f"value({unrecorded})",
            depth,
            tmp_path / "c.jsonl",
            playback=Playback.from_events(recorded, strict=True),
        )


def test_parse_answer() -> None:
    assert parse_answer("42") == 42
    assert parse_answer(" -3\n") == -3
    for text in ("unknown", "refused: identical to an ancestor's question", "4.0", "", "1 2", "+5"):
        assert parse_answer(text) is None


# --- ground truth against brute force -------------------------------------------------


def test_permutation_solve_matches_naive_iteration() -> None:
    for size in range(1, 5):
        for perm in itertools.permutations(range(size)):
            facts = {"permutation": list(perm)}
            for x in range(size):
                y = x
                for n in range(30):
                    assert PERMUTATION.solve(facts, f"s^{n}({x})") == str(y)
                    y = perm[y]


def test_permutation_solve_handles_huge_exponents() -> None:
    facts = {"permutation": [1, 2, 0, 4, 3]}
    assert PERMUTATION.solve(facts, "s^999999999999999999(0)") == str((10**18 - 1) % 3)
    assert PERMUTATION.depth_needed(facts, "s^999999999999999999(0)") == 59


def test_assignments_solve_matches_recursive_evaluation() -> None:
    def evaluate(variables: dict[str, Any], name: str) -> int:
        value = variables[name]
        if isinstance(value, int):
            return value % 8
        return (evaluate(variables, value[0]) + evaluate(variables, value[1])) % 8

    def chain(variables: dict[str, Any], name: str) -> int:
        value = variables[name]
        return 0 if isinstance(value, int) else 1 + max(chain(variables, v) for v in value)

    for seed in range(40):
        instance = ASSIGNMENTS.generate(random.Random(seed), size=12)
        variables = instance.facts["variables"]
        for name in variables:
            assert ASSIGNMENTS.solve(instance.facts, f"value({name})") == str(evaluate(variables, name))
            assert ASSIGNMENTS.depth_needed(instance.facts, f"value({name})") == chain(variables, name)


def test_assignments_solve_does_not_depend_on_order() -> None:
    facts = {"variables": {"d": ["c", "b"], "c": ["a", "b"], "b": -9, "a": 13}}
    assert ASSIGNMENTS.solve(facts, "value(d)") == str((13 - 9 - 9) % 8)


def test_wildcard_solve_matches_enumeration() -> None:
    for seed in range(10):
        rng = random.Random(seed)
        alphabet = "xyz"
        strings = {"".join(s): rng.choice((1, -1)) for s in itertools.product(alphabet, repeat=3) if rng.random() < 0.5}
        strings = strings or {"xxx": 1}
        facts = {"alphabet": alphabet, "strings": strings}
        for pattern in map("".join, itertools.product(alphabet + "*", repeat=3)):
            matches = [
                "".join(s)
                for s in itertools.product(alphabet, repeat=3)
                if all(p in ("*", c) for p, c in zip(pattern, s, strict=True))
            ]
            expected = sum(strings.get(s, 0) for s in matches)
            assert WILDCARD.solve(facts, f"sum({pattern})") == str(expected)
            assert WILDCARD.depth_needed(facts, f"sum({pattern})") == pattern.count("*")


def test_permutation_depth_needed_is_floor_log2() -> None:
    facts = {"permutation": [0]}
    assert [PERMUTATION.depth_needed(facts, f"s^{n}(0)") for n in range(10)] == [0, 0, 1, 1, 2, 2, 2, 2, 3, 3]


# --- generators ---------------------------------------------------------------------


@pytest.mark.parametrize("task", ALL_TASKS, ids=TASK_IDS)
def test_generator_is_deterministic_and_valid(task: Task) -> None:
    instances = [task.generate(random.Random(seed)) for seed in range(20)]
    assert instances == [task.generate(random.Random(seed)) for seed in range(20)]
    assert len({json.dumps([i.facts, i.question], sort_keys=True) for i in instances}) == 20
    for instance in instances:
        assert isinstance(instance, Instance) and instance.task == task.name
        assert task.validate_facts(instance.facts) == instance.facts
        task.parse_question(instance.facts, instance.question)
        json.dumps(instance.facts)  # JSON-able


def test_generator_sizes() -> None:
    assert len(PERMUTATION.generate(random.Random(1)).facts["permutation"]) == 64
    assert len(PERMUTATION.generate(random.Random(1), size=10).facts["permutation"]) == 10
    assert len(ASSIGNMENTS.generate(random.Random(1), size=10).facts["variables"]) == 10
    strings = WILDCARD.generate(random.Random(1)).facts["strings"]
    assert len(strings) == 64 and {len(s) for s in strings} == {4}
    big = WILDCARD.generate(random.Random(1), size=300).facts["strings"]
    assert len(big) == 300 and {len(s) for s in big} == {5}
    for task in ALL_TASKS:
        task.generate(random.Random(1), size=1)
        with pytest.raises(UsageError, match="size must be at least 1"):
            task.generate(random.Random(1), size=0)


def test_assignment_depths_are_moderate() -> None:
    depths = [
        ASSIGNMENTS.depth_needed(i.facts, i.question)
        for i in (ASSIGNMENTS.generate(random.Random(s)) for s in range(100))
    ]
    assert 4 <= sorted(depths)[50] <= 8
    assert 6 <= max(depths) <= 12


# --- registry ---------------------------------------------------------------------


def test_find_task() -> None:
    assert isinstance(ALL_TASKS, tuple)
    assert [t.name for t in ALL_TASKS] == ["permutation", "assignments", "wildcard"]
    assert find_task("wildcard") is WILDCARD
    with pytest.raises(UsageError) as err:
        find_task("x")
    assert str(err.value) == "unknown task 'x'; known tasks: permutation, assignments, wildcard"
    for task in ALL_TASKS:
        assert task.summary and task.question_format and task.facts_format


# --- rejecting malformed facts and questions ----------------------------------------------

BAD_FACTS: list[tuple[Task, object, str]] = [
    (PERMUTATION, [1, 0], "facts: expected a JSON object, got an array"),
    (PERMUTATION, {}, "facts: missing 'permutation'"),
    (PERMUTATION, {"permutation": [0], "extra": 1}, "facts: unknown key 'extra' (expected 'permutation')"),
    (PERMUTATION, {"permutation": "012"}, "facts.permutation: expected an array of integers, got a string"),
    (PERMUTATION, {"permutation": []}, "facts.permutation: is empty"),
    (PERMUTATION, {"permutation": [0, 1, 2, 70]}, "facts.permutation[3]: 70 is out of range 0..3"),
    (PERMUTATION, {"permutation": [0, -1]}, "facts.permutation[1]: -1 is out of range 0..1"),
    (PERMUTATION, {"permutation": [0, 1.0]}, "facts.permutation[1]: expected an integer, got a number"),
    (PERMUTATION, {"permutation": [True, 0]}, "facts.permutation[0]: expected an integer, got a boolean"),
    (PERMUTATION, {"permutation": [1, 5, 0, 5, 2, 3]}, "not a permutation: 5 appears twice (at indices 1 and 3)"),
    (ASSIGNMENTS, {"variables": {}}, "facts.variables: is empty"),
    (ASSIGNMENTS, {"variables": [1]}, "facts.variables: expected an object of definitions, got an array"),
    (ASSIGNMENTS, {"variables": {"v7": ["v0", "v9"], "v0": 1}}, "variable v7 refers to undefined v9"),
    (ASSIGNMENTS, {"variables": {"v1": ["v1", "v0"], "v0": 1}}, "facts.variables.v1: refers to itself"),
    (
        ASSIGNMENTS,
        {"variables": {"v0": 1, "v3": ["v5", "v0"], "v5": ["v0", "v4"], "v4": ["v3", "v0"]}},
        "facts.variables: cycle through v3 (v3 -> v5 -> v4 -> v3)",
    ),
    (ASSIGNMENTS, {"variables": {"v0": "3"}}, "facts.variables.v0: expected an integer or a pair"),
    (
        ASSIGNMENTS,
        {"variables": {"v0": 1, "v1": ["v0"]}},
        "facts.variables.v1: expected a pair of variable names, got an array of 1 item(s)",
    ),
    (
        ASSIGNMENTS,
        {"variables": {"v0": 1, "v1": ["v0", 2]}},
        "facts.variables.v1: expected a pair of variable names, got an integer in it",
    ),
    (ASSIGNMENTS, {"variables": {"2x": 1}}, "facts.variables: '2x' is not a variable name"),
    (WILDCARD, {"alphabet": "abc"}, "facts: missing 'strings'"),
    (WILDCARD, {"alphabet": "", "strings": {"a": 1}}, "facts.alphabet: is empty"),
    (WILDCARD, {"alphabet": "aba", "strings": {"a": 1}}, "facts.alphabet: 'a' appears twice"),
    (WILDCARD, {"alphabet": "a*", "strings": {"a": 1}}, "facts.alphabet: '*' cannot be a letter"),
    (WILDCARD, {"alphabet": "ab", "strings": {}}, "facts.strings: is empty"),
    (
        WILDCARD,
        {"alphabet": "ab", "strings": {"ab": 1, "abb": 1}},
        "facts.strings.abb: has length 3, the first string 'ab' has length 2",
    ),
    (WILDCARD, {"alphabet": "ab", "strings": {"ax": 1}}, "facts.strings.ax: 'x' is not in the alphabet 'ab'"),
    (WILDCARD, {"alphabet": "ab", "strings": {"ab": 2}}, "facts.strings.ab: value must be 1 or -1, got 2"),
    (WILDCARD, {"alphabet": "ab", "strings": {"ab": "1"}}, "facts.strings.ab: value must be 1 or -1, got a string"),
]


@pytest.mark.parametrize(
    ("task", "facts", "message"), BAD_FACTS, ids=[f"{t.name}-{i}" for i, (t, _, _) in enumerate(BAD_FACTS)]
)
def test_validate_facts_rejects(task: Task, facts: object, message: str) -> None:
    with pytest.raises(UsageError) as err:
        task.validate_facts(facts)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


SMALL_FACTS: dict[str, dict[str, Any]] = {
    "permutation": {"permutation": [1, 2, 0]},
    "assignments": {"variables": {"v0": 1, "v1": ["v0", "v0"]}},
    "wildcard": {"alphabet": "abcd", "strings": {"abca": 1, "bdda": -1}},
}

BAD_QUESTIONS: list[tuple[Task, str, str]] = [
    (PERMUTATION, "foo", "cannot parse question 'foo' for task permutation: expected s^N(X), e.g. s^13(42)"),
    (PERMUTATION, "s^-1(0)", "cannot parse question 's^-1(0)' for task permutation"),
    (PERMUTATION, "s^2(3)", "question 's^2(3)': element 3 is out of range 0..2"),
    (PERMUTATION, "s^" + "9" * 19 + "(0)", "exponent has more than 18 digits"),
    (ASSIGNMENTS, "v1", "cannot parse question 'v1' for task assignments: expected value(NAME), e.g. value(v12)"),
    (ASSIGNMENTS, "value(v9)", "question 'value(v9)': unknown variable v9"),
    (WILDCARD, "ab*d", "cannot parse question 'ab*d' for task wildcard: expected sum(PATTERN), e.g. sum(ab*d)"),
    (WILDCARD, "sum(ab*)", "question 'sum(ab*)': pattern has length 3, the strings have length 4"),
    (WILDCARD, "sum(abxd)", "question 'sum(abxd)': 'x' is neither in the alphabet 'abcd' nor '*'"),
]


@pytest.mark.parametrize(("task", "question", "message"), BAD_QUESTIONS, ids=[q for _, q, _ in BAD_QUESTIONS])
def test_parse_question_rejects(task: Task, question: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        task.parse_question(SMALL_FACTS[task.name], question)
    assert message in str(err.value)


def test_parse_question_accepts_spacing() -> None:
    assert PERMUTATION.solve(SMALL_FACTS["permutation"], " s^2( 0 ) ") == "2"
    assert ASSIGNMENTS.solve(SMALL_FACTS["assignments"], "value( v1 )") == "2"
    assert WILDCARD.solve(SMALL_FACTS["wildcard"], "sum( **** )") == "0"
