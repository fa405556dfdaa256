"""Run transcripts: the JSONL event format, its writer, reader and tree view."""

from transcripts.events import SCHEMA_VERSION, Event, Header
from transcripts.reader import Transcript, TranscriptError, read_transcript
from transcripts.tree import TreeNode, build_tree
from transcripts.writer import TranscriptWriter

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "Header",
    "Transcript",
    "TranscriptError",
    "TranscriptWriter",
    "TreeNode",
    "build_tree",
    "read_transcript",
]
