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


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing and cache keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Hash of one line's fields (``hash`` itself excluded) chained to ``prev_hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return _digest(prev_hash, canonical_json(body))


def seal(prev_hash: str, fields: dict[str, Any]) -> tuple[str, bytes]:
    """The hash of ``fields`` (which must not hold one) and the line to write, newline included.

    Each event is serialised once: the line is the very bytes that were hashed
    (the canonical JSON, UTF-8), with the hash spliced in as a last key.
    """
    body = canonical_json(fields).encode()
    digest = hashlib.sha256(prev_hash.encode() + body).hexdigest()
    return digest, b'%s,"hash":"%s"}\n' % (body[:-1], digest.encode())


def _digest(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def request_hash(request: Any) -> str:
    """Stable hash of a call's request (model call, oracle lookup, human prompt)."""
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()
