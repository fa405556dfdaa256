"""The published JSON Schema of the transcript format.

It is generated from the event models in :mod:`transcripts.events` (so it
cannot drift from what the reader accepts), tightened to say what every line
as written carries (``kind``, ``seq``, ``time`` and a 64-hex-digit ``hash``),
and committed as ``docs/transcript-schema.json`` (a test keeps that file up to
date). ``hch schema`` prints it.

Line 1 of a transcript is a ``Header``; every later line is one of the other
definitions, selected by its ``kind``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from transcripts.events import EVENT_ADAPTER, SCHEMA_VERSION

SCHEMA_ID = f"urn:hch:transcript:v{SCHEMA_VERSION}"
PUBLISHED_PATH = Path(__file__).resolve().parent.parent / "docs" / "transcript-schema.json"
"""Where the schema is committed in the repository."""

_STAMPED = ("kind", "seq", "time", "hash")


def transcript_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one transcript line."""
    generated = copy.deepcopy(EVENT_ADAPTER.json_schema(mode="serialization"))
    defs: dict[str, Any] = generated.pop("$defs")
    for name, definition in defs.items():
        props: dict[str, Any] = definition.get("properties", {})
        if "kind" not in props:
            continue  # a helper definition, not an event
        required = [p for p in _STAMPED if p in props]
        definition["required"] = required + [p for p in definition.get("required", []) if p not in required]
        for stamped in ("kind", "seq", "time", "hash"):
            props[stamped].pop("default", None)
        props["seq"]["minimum"] = 0
        props["seq"]["description"] = "Position of the line in the file: 0 for the header, then 1, 2, ..."
        props["time"]["description"] = "When the event was written (Unix seconds)."
        props["hash"]["pattern"] = "^[0-9a-f]{64}$"
        props["hash"]["description"] = (
            "sha256 hex of the previous line's hash followed by the canonical JSON of this line "
            "without its hash (sorted keys, no whitespace, UTF-8); the header chains to the empty string."
        )
        if name == "Header":
            props["seq"] = {"const": 0, "title": "Seq", "type": "integer", "description": props["seq"]["description"]}
            props["schema_version"] = {
                "const": SCHEMA_VERSION,
                "title": "Schema Version",
                "type": "integer",
                "description": "Version of this format; see docs/transcripts.md for reading older versions.",
            }
            if "schema_version" not in definition["required"]:
                definition["required"].insert(1, "schema_version")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"hch transcript line (schema version {SCHEMA_VERSION})",
        "description": (
            "A transcript is a JSONL file: line 1 is a Header, every later line one event, in the order "
            "things happened. Each line is one of the definitions below, selected by its 'kind'."
        ),
        "x-schema-version": SCHEMA_VERSION,
        **generated,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as committed: indented JSON with a final newline."""
    return json.dumps(transcript_schema(), indent=2, ensure_ascii=False) + "\n"
