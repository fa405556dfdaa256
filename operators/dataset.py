"""Datasets whose every example can be traced to the tree that produced it.

A dataset is a folder, ``$HCH_HOME/datasets/<name>/``, holding:

- ``transcripts/``: the transcripts of the runs the examples came from;
- ``examples.jsonl``: one example a line (a pydantic model: its payload and
  its :class:`Provenance`);
- ``manifest.json``: who made it (operator, settings, round, time), how many
  examples and the sha256 of ``examples.jsonl``, the transcripts with their
  chain heads, and the *claims*: which field of an example must equal which
  field of the tree it cites.

Every path in a manifest or an example is relative to the folder and must stay
inside it (:func:`confined`): a dataset read from disk cannot make hch read
anything else.

Provenance cites one event of one transcript: the node, the event's ``seq``
and the chain hash at that event. The chain hash pins every line up to it, so
:func:`verify_dataset` proves an example is what that tree produced: it checks
the transcript's chain (:func:`transcripts.verify.verify_transcript`), that the
event at ``seq`` has the cited hash and node, and that each claim holds for the
node as the tree stood at that event (:class:`NodeView`).

Operators store their own payloads by subclassing :class:`Example` and
declaring ``CLAIMS``; the writer, reader and verifier are the same for all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from operators.paths import (
    EXAMPLES,
    MANIFEST,
    TRANSCRIPTS,
    DatasetError,
    check_name,
    confined,
    dataset_dir,
    datasets_dir,
    locate,
    sha256_file,
)
from transcripts.events import Event, JSONValue
from transcripts.reader import Transcript, TranscriptError, read_transcript
from transcripts.tree import TreeNode, build_tree
from transcripts.verify import verify_transcript

FORMAT_VERSION = 1


# -- the records -------------------------------------------------------------


class Provenance(BaseModel):
    """Where an example came from: one event of one transcript in the dataset's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transcript: str
    """Path relative to the dataset folder, e.g. ``transcripts/q0007.jsonl``."""
    node_id: str
    seq: int = Field(ge=1)
    """The cited event's position in the transcript (the header is 0)."""
    hash: str
    """The chain hash at that event: it pins the event and every line before it."""


class Example(BaseModel):
    """One example: an operator's payload (the subclass's fields) and its provenance.

    ``CLAIMS`` maps a field of the example (a dotted path into its JSON) to a
    field of the :class:`NodeView` of the cited node (``node.answer``,
    ``node.subquestions``, ``event.answer``, ...). Verification checks each
    one; the writer records them in the manifest, so a generic verifier needs
    no Python class to check a dataset.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    KIND: ClassVar[str] = "example"
    CLAIMS: ClassVar[dict[str, str]] = {}

    provenance: Provenance


E = TypeVar("E", bound=Example)


class TranscriptRef(BaseModel):
    """A transcript the examples cite, pinned by its chain head."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    run_id: str
    lines: int
    head: str


class Manifest(BaseModel):
    """What a dataset is and where it came from (``manifest.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["hch-dataset"] = "hch-dataset"
    format_version: int = FORMAT_VERSION
    name: str
    operator: str
    """``imitative``, ``approval``, ``rrm``, ``debate``, ..."""
    kind: str
    """The example type (``Example.KIND``)."""
    task: str | None = None
    """The algorithmic task of every example, None for free text."""
    round: int | None = None
    created: str
    settings: dict[str, JSONValue] = Field(default_factory=dict)
    examples: int
    examples_sha256: str
    claims: dict[str, str] = Field(default_factory=dict)
    transcripts: list[TranscriptRef] = Field(default_factory=list)


# -- what a cited node looked like ------------------------------------------


@dataclass(frozen=True)
class NodeView:
    """The cited node as the tree stood at the cited event, for checking claims.

    ``node``: question, answer (None if it had not answered yet), worker,
    status, and ``subquestions`` (each question, its answer, status); ``event``:
    the cited event's own fields.
    """

    node: dict[str, JSONValue]
    event: dict[str, JSONValue]

    def get(self, path: str) -> JSONValue:
        """The value at a dotted ``path`` (``node.answer``); KeyError if there is none."""
        return _dig({"node": self.node, "event": self.event}, path)


def node_view(events: Sequence[Event], cited: Event, node_id: str) -> NodeView:
    """The view of ``node_id`` built from ``events`` (every event up to and including ``cited``)."""
    root = build_tree(list(events))
    found = next((n for n in root.walk() if n.node_id == node_id), None) if root is not None else None
    if found is None:
        raise KeyError(node_id)
    return NodeView(node=_node_dict(found), event=cited.model_dump(mode="json", exclude={"hash", "time"}))


def _node_dict(node: TreeNode) -> dict[str, JSONValue]:
    return {
        "node_id": node.node_id,
        "question": node.question,
        "answer": node.answer,
        "worker": node.worker,
        "status": node.status,
        "subquestions": [
            {"question": c.question, "answer": c.answer if c.status != "refused" else c.reason, "status": c.status}
            for c in node.children
        ],
    }


def _dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


# -- writing -----------------------------------------------------------------


class DatasetWriter(Generic[E]):
    """Builds one dataset: runs write into :attr:`transcripts`, examples are added, :meth:`finish` seals it.

    The folder is created at once (with ``transcripts/``); ``manifest.json`` is
    written last, so a folder without one is an unfinished dataset. An existing
    finished dataset is never overwritten; an unfinished one may be continued
    with ``resume=True`` (its transcripts are kept).
    """

    def __init__(
        self,
        folder: Path,
        kind: type[E],
        *,
        operator: str,
        task: str | None = None,
        round: int | None = None,
        settings: dict[str, JSONValue] | None = None,
        resume: bool = False,
    ) -> None:
        if (folder / MANIFEST).exists():
            raise DatasetError(f"{folder}: a dataset already exists there; datasets are never overwritten")
        if folder.exists() and not resume and any(folder.iterdir()):
            raise DatasetError(f"{folder}: the folder exists and is not empty (an unfinished dataset?)")
        self.folder = folder
        self.kind = kind
        self.operator = operator
        self.task = task
        self.round = round
        self.settings = dict(settings or {})
        self.transcripts = folder / TRANSCRIPTS
        self.transcripts.mkdir(parents=True, exist_ok=True)
        self._examples: list[E] = []

    def relative(self, path: Path) -> str:
        """``path`` (inside the folder) as the relative POSIX path a manifest records."""
        try:
            return path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            raise DatasetError(f"{path}: transcripts of a dataset must be inside its folder {self.folder}") from None

    def cite(self, transcript: Transcript, event: Event) -> Provenance:
        """The provenance of an example taken from ``event`` of ``transcript`` (read back from disk)."""
        node_id = getattr(event, "node_id", None)
        if not isinstance(node_id, str) or event.seq < 1 or not event.hash:
            raise ValueError(f"cannot cite a {event.kind} event without a node, seq and hash")
        return Provenance(transcript=self.relative(transcript.path), node_id=node_id, seq=event.seq, hash=event.hash)

    def add(self, example: E) -> None:
        if not isinstance(example, self.kind):
            raise TypeError(f"this dataset holds {self.kind.__name__} examples, got {type(example).__name__}")
        self._examples.append(example)

    def extend(self, examples: Iterable[E]) -> None:
        for example in examples:
            self.add(example)

    def finish(self, name: str | None = None) -> Dataset:
        """Write ``examples.jsonl`` and then ``manifest.json``; return the dataset as read back."""
        if not self._examples:
            raise DatasetError(f"{self.folder}: no examples to write (an empty dataset is refused)")
        cited = sorted({e.provenance.transcript for e in self._examples})
        refs = []
        for rel in cited:
            report = verify_transcript(confined(self.folder, rel, str(self.folder / MANIFEST)))
            if not report.ok or report.head is None:
                raise DatasetError(f"cannot seal the dataset: {report.summary()}")
            refs.append(TranscriptRef(path=rel, run_id=report.run_id, lines=report.lines, head=report.head))
        examples_path = self.folder / EXAMPLES
        _write_atomic(examples_path, "".join(e.model_dump_json() + "\n" for e in self._examples))
        manifest = Manifest(
            name=name or self.folder.name,
            operator=self.operator,
            kind=self.kind.KIND,
            task=self.task,
            round=self.round,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            settings=self.settings,
            examples=len(self._examples),
            examples_sha256=sha256_file(examples_path),
            claims=dict(self.kind.CLAIMS),
            transcripts=refs,
        )
        _write_atomic(self.folder / MANIFEST, manifest.model_dump_json(indent=2) + "\n")
        return open_dataset(self.folder)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- reading -----------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A dataset folder and its manifest (the examples are read on demand, strictly)."""

    folder: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def examples_path(self) -> Path:
        return self.folder / EXAMPLES

    def transcript_path(self, relative: str, where: str) -> Path:
        return confined(self.folder, relative, where)

    def raw_examples(self) -> list[tuple[int, dict[str, Any]]]:
        """Every line of ``examples.jsonl`` as (line number, JSON object) with a valid provenance.

        Strict: a missing file, a cut last line, a line that is not a JSON
        object, a provenance that is missing or points outside the folder, or
        a line count other than the manifest's is a :class:`DatasetError`
        naming the file and line.
        """
        path = self.examples_path
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
        lines = blob.split(b"\n")
        tail = lines.pop()
        if tail:
            raise DatasetError(f"{path}:{len(lines) + 1}: truncated (the file ends mid-line at byte {len(blob)})")
        if not lines:
            raise DatasetError(f"{path}:1: the dataset is empty (no examples)")
        out: list[tuple[int, dict[str, Any]]] = []
        for lineno, raw in enumerate(lines, start=1):
            where = f"{path}:{lineno}"
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DatasetError(f"{where}: not JSON ({exc})") from None
            if not isinstance(data, dict):
                raise DatasetError(f"{where}: not a JSON object")
            try:
                prov = Provenance.model_validate(data.get("provenance"))
            except ValidationError as exc:
                raise DatasetError(f"{where}: bad provenance: {_first_error(exc)}") from None
            confined(self.folder, prov.transcript, where)
            out.append((lineno, data))
        if len(out) != self.manifest.examples:
            raise DatasetError(
                f"{path}:{len(out)}: {len(out)} example(s), but the manifest says {self.manifest.examples} "
                "(lines were removed or added: truncated?)"
            )
        return out

    def examples(self, kind: type[E], *, task: str | None = None, check_digest: bool = True) -> list[E]:
        """The examples as ``kind``, refusing a dataset of another kind or task, or one edited since it was sealed."""
        where = f"{self.folder / MANIFEST}:1"
        if self.manifest.kind != kind.KIND:
            raise DatasetError(f"{where}: holds {self.manifest.kind!r} examples, not {kind.KIND!r}")
        if task is not None and self.manifest.task != task:
            raise DatasetError(f"{where}: a dataset of task {self.manifest.task!r}, not {task!r}")
        if self.manifest.claims != kind.CLAIMS:
            raise DatasetError(f"{where}: its claims {self.manifest.claims} are not those of {kind.KIND!r} examples")
        raw = self.raw_examples()
        if check_digest:
            self.check_digest()
        out: list[E] = []
        for lineno, data in raw:
            try:
                out.append(kind.model_validate(data))
            except ValidationError as exc:
                where = f"{self.examples_path}:{lineno}"
                raise DatasetError(f"{where}: not a {kind.KIND} example: {_first_error(exc)}") from None
        return out

    def check_digest(self) -> None:
        """Raise :class:`DatasetError` if ``examples.jsonl`` changed since the dataset was sealed.

        The error names the line of the first example that no longer matches
        its tree, found by verifying the examples against their transcripts.
        """
        if sha256_file(self.examples_path) != self.manifest.examples_sha256:
            raise DatasetError(self._edited_message())

    def _edited_message(self) -> str:
        report = verify_dataset(self)
        bad = next((p for p in report.problems if p.line is not None), None)
        if bad is not None:
            return f"{self.examples_path}:{bad.line}: edited since the dataset was sealed: {bad.message}"
        return f"{self.examples_path}: edited since the dataset was sealed (its sha256 differs from the manifest's)"


def open_dataset(name_or_path: str | Path) -> Dataset:
    """The dataset at a folder or with a name; :class:`DatasetError` (naming the file) if it is unreadable."""
    folder = Path(name_or_path) if isinstance(name_or_path, Path) else locate(name_or_path)
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc} (an unfinished dataset?)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not JSON ({exc.msg}): truncated or edited?") from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise DatasetError(f"{path}:1: not a dataset manifest: {_first_error(exc)}") from None
    for ref in manifest.transcripts:
        confined(folder, ref.path, f"{path}:1")
    return Dataset(folder, manifest)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{loc}: {first['msg']}"


# -- verification --------------------------------------------------------------


@dataclass(frozen=True)
class DatasetProblem:
    """One thing that does not verify; ``line`` is the example's line in ``examples.jsonl`` (None: the dataset)."""

    line: int | None
    message: str


@dataclass
class DatasetReport:
    """What :func:`verify_dataset` found."""

    dataset: Dataset
    examples: int = 0
    transcripts: int = 0
    problems: list[DatasetProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: verified, or the first problem (naming the example's line)."""
        if self.ok:
            return (
                f"{self.dataset.folder}: verified: {self.examples} example(s) traced to "
                f"{self.transcripts} intact transcript(s)"
            )
        # An example named by its line says more than "the file changed".
        first = next((p for p in self.problems if p.line is not None), self.problems[0])
        where = f"{self.dataset.examples_path}:{first.line}" if first.line is not None else str(self.dataset.folder)
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return f"{where}: {first.message}{more}"

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": str(self.dataset.folder),
            "name": self.dataset.name,
            "ok": self.ok,
            "examples": self.examples,
            "transcripts": self.transcripts,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


def verify_dataset(dataset: Dataset) -> DatasetReport:
    """Prove every example is what its tree produced; report every example that is not.

    Checks the examples file against the manifest's digest, each transcript's
    chain (:func:`~transcripts.verify.verify_transcript`) and head against the
    manifest, and for each example: its cited event exists at ``seq`` with the
    cited hash and node (so the chain up to it is the one verified), and every
    claim of the manifest holds for the node as it stood at that event.
    """
    report = DatasetReport(dataset)
    manifest = dataset.manifest
    if not manifest.claims:
        report.problems.append(DatasetProblem(None, "the manifest makes no claims: nothing ties examples to trees"))
    try:
        raw = dataset.raw_examples()
    except DatasetError as exc:
        report.problems.append(DatasetProblem(None, str(exc)))
        return report
    report.examples = len(raw)
    if sha256_file(dataset.examples_path) != manifest.examples_sha256:
        report.problems.append(
            DatasetProblem(None, f"{EXAMPLES} was changed after the dataset was sealed (its sha256 differs)")
        )
    loaded = _load_transcripts(dataset, report)
    for lineno, data in raw:
        message = _check_example(data, loaded, manifest.claims)
        if message is not None:
            report.problems.append(DatasetProblem(lineno, message))
    return report


@dataclass(frozen=True)
class _Loaded:
    transcript: Transcript | None
    bad_from: int | None
    """First line (1-based) of the transcript that does not verify (None: intact)."""
    summary: str


def _load_transcripts(dataset: Dataset, report: DatasetReport) -> dict[str, _Loaded]:
    loaded: dict[str, _Loaded] = {}
    where = f"{dataset.folder / MANIFEST}:1"
    for ref in dataset.manifest.transcripts:
        path = dataset.transcript_path(ref.path, where)
        try:
            check = verify_transcript(path)
            transcript = read_transcript(path)
        except TranscriptError as exc:
            loaded[ref.path] = _Loaded(None, 1, str(exc))
            report.problems.append(DatasetProblem(None, str(exc)))
            continue
        bad_from = check.problems[0].line if check.problems else None
        if check.ok and check.head != ref.head:
            bad_from = check.lines
            report.problems.append(
                DatasetProblem(None, f"{ref.path}: chain head {check.head} is not the manifest's {ref.head}")
            )
        elif not check.ok:
            report.problems.append(DatasetProblem(None, check.summary()))
        loaded[ref.path] = _Loaded(transcript, bad_from, check.summary())
        report.transcripts += 1
    return loaded


def _check_example(data: dict[str, Any], loaded: dict[str, _Loaded], claims: dict[str, str]) -> str | None:
    prov = Provenance.model_validate(data["provenance"])
    source = loaded.get(prov.transcript)
    if source is None:
        return f"cites {prov.transcript}, which the manifest does not list"
    if source.transcript is None:
        return f"cites {prov.transcript}, which cannot be read: {source.summary}"
    line = prov.seq + 1
    if source.bad_from is not None and source.bad_from <= line:
        return f"cites {prov.transcript}:{line}, but that transcript does not verify up to it: {source.summary}"
    events = source.transcript.events
    if prov.seq > len(events):
        return f"cites {prov.transcript}:{line}, but the transcript has {len(events) + 1} lines"
    cited = events[prov.seq - 1]
    if cited.hash != prov.hash:
        return f"cites {prov.transcript}:{line} with hash {prov.hash[:12]}..., but that line's is {cited.hash[:12]}..."
    if getattr(cited, "node_id", None) != prov.node_id:
        return f"cites node {prov.node_id} at {prov.transcript}:{line}, but that is an event of another node"
    try:
        view = node_view(events[: prov.seq], cited, prov.node_id)
    except KeyError:
        return f"node {prov.node_id} does not start in {prov.transcript} before line {line}"
    for mine, theirs in claims.items():
        try:
            claimed = _dig(data, mine)
        except KeyError:
            return f"the example has no {mine!r}, which the manifest claims"
        try:
            actual = view.get(theirs)
        except KeyError:
            return f"{prov.transcript}:{line} has no {theirs!r} for node {prov.node_id}"
        if claimed != actual:
            return (
                f"its {mine} {_short(claimed)} is not what the tree produced: node {prov.node_id}'s {theirs} "
                f"at {prov.transcript}:{line} is {_short(actual)}"
            )
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = [
    "EXAMPLES",
    "MANIFEST",
    "TRANSCRIPTS",
    "Dataset",
    "DatasetError",
    "DatasetProblem",
    "DatasetReport",
    "DatasetWriter",
    "Example",
    "Manifest",
    "NodeView",
    "Provenance",
    "TranscriptRef",
    "check_name",
    "confined",
    "dataset_dir",
    "datasets_dir",
    "locate",
    "node_view",
    "open_dataset",
    "sha256_file",
    "verify_dataset",
]
