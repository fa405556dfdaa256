"""Hash chain over transcript lines.

Each line's ``hash`` is ``sha256(previous hash + canonical JSON of the line
without its hash)``. Canonical means sorted keys and no whitespace, so the hash
does not depend on how a tool re-serialises the line, only on its content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

GENESIS = ""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The definition of canonical JSON: the standard library's, sorted keys, no whitespace, text as is."""

_FAST = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
"""orjson writes the same bytes as :data:`_CANONICAL` for plain JSON values, ten times faster
(a seventh of an event's cost in a run). What it would write differently is passed through
to its ``default`` (absent here, so it raises) and then written by :data:`_CANONICAL`:
subclasses (an ``IntEnum``, a ``str`` subclass), dataclasses, dates, integers beyond 64
bits, keys that are not text, lone surrogates, nesting deeper than 254."""


def _may_differ(fast: bytes) -> bool:
    """Whether orjson may have written a float unlike Python (then the standard library writes the line).

    The two differ only below 1e-4: Python writes ``1e-05`` and ``1e-07`` where orjson writes
    ``0.00001`` and ``1e-7``; from 1e16 both write ``1e+16``. Every float they write differently
    shows ``0.0000`` or a digit followed by ``e-`` (tests/test_chain.py checks floats of every
    magnitude); a text holding one is merely written the slow way.
    """
    if b"0.0000" in fast:
        return True
    at = fast.find(b"e-")
    while at > 0:
        if 0x30 <= fast[at - 1] <= 0x39:
            return True
        at = fast.find(b"e-", at + 2)
    return False


def canonical_bytes(value: Any, *, floats: bool = True) -> bytes:
    """The canonical JSON of ``value``, UTF-8: what is hashed and written.

    NaN and infinities are not JSON and have no canonical form (the standard library
    writes ``NaN``, orjson ``null``): events refuse them when built. ``floats=False``
    vouches that ``value`` holds no float below 1e-4 (a float-free event and its
    ``time``): its JSON is then not searched for the forms orjson writes differently.
    """
    try:
        fast = orjson.dumps(value, option=_FAST)
    except TypeError:  # orjson.JSONEncodeError: something it would write differently (see _FAST)
        return _CANONICAL.encode(value).encode()
    if floats and _may_differ(fast):
        return _CANONICAL.encode(value).encode()
    return fast


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing and cache keys."""
    try:
        return canonical_bytes(value).decode()
    except UnicodeEncodeError:  # a lone surrogate: text, but no UTF-8
        return _CANONICAL.encode(value)


def line_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Hash of one line's fields (``hash`` itself excluded) chained to ``prev_hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return _digest(prev_hash, canonical_json(body))


_SLOT = "\x00hch-serialised\x00"
"""Stands in for a serialised field while the rest of a line is serialised (see :func:`seal`)."""
_SLOT_BYTES = canonical_bytes(_SLOT)


def seal(
    prev_hash: str, fields: dict[str, Any], serialised: tuple[str, bytes] | None = None, *, floats: bool = True
) -> tuple[str, bytes]:
    """The hash of ``fields`` (which must not hold one) and the line to write, newline included.

    Each event is serialised once: the line is the very bytes that were hashed
    (the canonical JSON, UTF-8), with the hash spliced in as a last key.
    ``serialised`` is a top-level field (name, canonical JSON bytes of its value) that
    is already serialised, such as a model call's request, serialised for its
    hash: it is spliced in, and the line is the same as if it were in ``fields``.
    ``floats`` is as for :func:`canonical_bytes`.
    """
    if serialised is None:
        body = canonical_bytes(fields, floats=floats)
    else:
        name, value_json = serialised
        body = canonical_bytes({**fields, name: _SLOT}, floats=floats)
        if body.count(_SLOT_BYTES) == 1:  # the slot itself (a string holding it would make two)
            body = body.replace(_SLOT_BYTES, value_json)
        else:
            body = canonical_bytes({**fields, name: json.loads(value_json)})
    digest = chained_hash(prev_hash, body)
    return digest, b'%s,"hash":"%s"}\n' % (body[:-1], digest.encode())


def chained_hash(prev_hash: str, body: bytes) -> str:
    """The hash of a line whose canonical JSON (without its hash) is ``body``, after ``prev_hash``."""
    return sha256_hex(prev_hash.encode() + body)


_HASHED_HOLDING_THE_GIL = 2047
"""hashlib lets go of the GIL to hash 2,048 bytes or more at once. With the transcript
writer's thread waiting for it, taking it back cost more than the hashing (4.4 against
2.4 us for a line of 2 kB, and a tenth of a warm rerun's lines are that long), so
:func:`sha256_hex` hashes in pieces below that size, which it never lets go for."""


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    if len(data) <= _HASHED_HOLDING_THE_GIL:
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(data), _HASHED_HOLDING_THE_GIL):
        digest.update(view[start : start + _HASHED_HOLDING_THE_GIL])
    return digest.hexdigest()


def _digest(prev_hash: str, body: str) -> str:
    return chained_hash(prev_hash, body.encode())


def request_hash(request: Any) -> str:
    """Stable hash of a call's request (model call, oracle lookup, human prompt)."""
    return hash_of_json(canonical_bytes(request))


def hash_of_json(body: bytes) -> str:
    """:func:`request_hash` of a request given as its canonical JSON bytes (serialised once, used twice)."""
    return sha256_hex(body)
