"""Hash chain over transcript lines.

Each line's ``hash`` is ``sha256(previous hash + canonical JSON of the line
without its hash)``. Canonical means sorted keys and no whitespace, so the hash
does not depend on how a tool re-serialises the line, only on its content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = ""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""Made once: ``json.dumps`` with these options builds an encoder per call, a fifth of its cost on an event."""


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing and cache keys."""
    return _CANONICAL.encode(value)


def line_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Hash of one line's fields (``hash`` itself excluded) chained to ``prev_hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return _digest(prev_hash, canonical_json(body))


_SLOT = "\x00hch-serialised\x00"
"""Stands in for a serialised field while the rest of a line is serialised (see :func:`seal`)."""
_SLOT_JSON = canonical_json(_SLOT)


def seal(prev_hash: str, fields: dict[str, Any], serialised: tuple[str, str] | None = None) -> tuple[str, bytes]:
    """The hash of ``fields`` (which must not hold one) and the line to write, newline included.

    Each event is serialised once: the line is the very bytes that were hashed
    (the canonical JSON, UTF-8), with the hash spliced in as a last key.
    ``serialised`` is a top-level field (name, canonical JSON of its value) that
    is already serialised, such as a model call's request, serialised for its
    hash: it is spliced in, and the line is the same as if it were in ``fields``.
    """
    if serialised is None:
        text = canonical_json(fields)
    else:
        name, value_json = serialised
        text = canonical_json({**fields, name: _SLOT})
        if text.count(_SLOT_JSON) == 1:  # the slot itself (a string holding it would make two)
            text = text.replace(_SLOT_JSON, value_json)
        else:
            text = canonical_json({**fields, name: json.loads(value_json)})
    body = text.encode()
    digest = hashlib.sha256(prev_hash.encode() + body).hexdigest()
    return digest, b'%s,"hash":"%s"}\n' % (body[:-1], digest.encode())


def _digest(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def request_hash(request: Any) -> str:
    """Stable hash of a call's request (model call, oracle lookup, human prompt)."""
    return hash_of_json(canonical_json(request))


def hash_of_json(text: str) -> str:
    """:func:`request_hash` of a request given as its canonical JSON (serialised once, used twice)."""
    return hashlib.sha256(text.encode()).hexdigest()
