"""Canonical JSON: the fast writer (orjson) gives the standard library's bytes, or hands over to it.

Every hash in every transcript and cache key is taken over these bytes, so a line
written the fast way must be exactly the line the definition (``json`` with sorted
keys, no whitespace, text as is) gives: an external tool re-serialising a line with
Python's ``json`` must find the same hash.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import random
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transcripts.chain import canonical_bytes, canonical_json, sha256_hex
from transcripts.events import NodeAnswer

DEFINITION = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition(value: Any) -> bytes:
    return DEFINITION.encode(value).encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses those
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=800)
@given(json_values)
def test_any_json_value_is_written_as_the_definition_writes_it(value: Any) -> None:
    assert canonical_bytes(value) == definition(value)
    assert canonical_json(value) == DEFINITION.encode(value)


def test_floats_of_every_magnitude_are_written_as_python_writes_them() -> None:
    # The forms differ below 1e-4 and from 1e16 (exponents), so sweep every exponent, not only random bits.
    rng = random.Random(12)
    floats = [5e-324, 2.2250738585072014e-308, 1e-5, 1e-4, 0.0001, 9.999e-5, 1e15, 1e16, 9007199254740993.0, 1.7e308]
    floats += [rng.random() * 10.0**e for e in range(-320, 308) for _ in range(20)]
    floats += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    floats = [f for f in floats if math.isfinite(f)]
    for f in floats:
        for value in (f, -f, [f], {"x": f, "t": "text"}):
            assert canonical_bytes(value) == definition(value), f


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**64, "m": -(2**63) - 1},  # beyond orjson's integers
        {"c": Colour.RED},  # an int subclass
        {"s": Name("subclassed")},
        {2: "a", 1: "b"},  # keys that are not text
        {"deep": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson nests
        {"text": "a float in text: 1e-05, 2e+16, 0.00001"},  # written the slow way, still the same
    ],
)
def test_what_orjson_would_write_otherwise_is_written_by_the_definition(value: Any) -> None:
    assert canonical_bytes(value) == definition(value)


def test_what_the_definition_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        canonical_bytes({"p": Point(1)})  # orjson would write a dataclass; JSON has none
    lone = {"s": "\ud800"}
    assert canonical_json(lone) == DEFINITION.encode(lone)  # text, though not UTF-8
    with pytest.raises(UnicodeEncodeError):
        canonical_bytes(lone)


def test_events_refuse_nan_and_infinity() -> None:
    # Not JSON, and the two writers differ on them (NaN, null): an event never holds one.
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            NodeAnswer(node_id="0", answer="a", spent=0, time=bad)


@pytest.mark.parametrize("size", [0, 2047, 2048, 2049, 4094, 4095, 10_000])
def test_hashing_in_pieces_is_hashing_the_whole(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
