"""``hch dataset``: list, show, verify and export the datasets under $HCH_HOME/datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from commands.common import APP, JsonOpt, fail, out

# The library is imported inside the commands, so that `hch --help` does not load it
# (tests/test_startup.py).
if TYPE_CHECKING:
    from operators.dataset import Dataset

dataset_app = typer.Typer(
    name="dataset",
    help="Datasets written by the operators: list, show, verify (every example against its tree), export.",
    no_args_is_help=True,
    **APP,
)

DatasetArg = Annotated[str, typer.Argument(help="A dataset: its name under $HCH_HOME/datasets, or its folder.")]


def open_or_fail(name: str) -> Dataset:
    """The dataset, or a one-line error (exit 2)."""
    from operators.dataset import DatasetError, open_dataset

    try:
        return open_dataset(name)
    except DatasetError as exc:
        fail(str(exc), 2)


def _summary(dataset: Dataset) -> dict[str, Any]:
    m = dataset.manifest
    return {
        "name": m.name,
        "folder": str(dataset.folder),
        "operator": m.operator,
        "kind": m.kind,
        "task": m.task,
        "round": m.round,
        "created": m.created,
        "examples": m.examples,
        "examples_sha256": m.examples_sha256,
        "transcripts": len(m.transcripts),
        "settings": m.settings,
    }


@dataset_app.command("list")
def list_datasets(as_json: JsonOpt = False) -> None:
    """The datasets under $HCH_HOME/datasets (unfinished ones are marked)."""
    from rich.table import Table

    from operators.dataset import DatasetError, open_dataset
    from operators.paths import datasets_dir

    root = datasets_dir()
    rows: list[dict[str, Any]] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir():
            continue
        try:
            rows.append(_summary(open_dataset(folder)))
        except DatasetError as exc:
            rows.append({"name": folder.name, "folder": str(folder), "error": str(exc)})
    if as_json:
        print(json.dumps({"datasets": rows}))
        return
    columns = ("name", "operator", "kind", "task", "round", "examples", "created")
    table = Table(title=f"datasets in {root}")
    for col in columns:
        table.add_column(col)
    for row in rows:
        if "error" in row:
            table.add_row(_cell(row["name"]), "[red]unreadable[/]")
        else:
            table.add_row(*(_cell(row[c]) if row[c] is not None else "" for c in columns))
    out.print(table)


@dataset_app.command("show")
def show(
    name: DatasetArg,
    limit: Annotated[int, typer.Option("--limit", help="Examples to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The manifest and the first examples (read strictly: a damaged file is a one-line error)."""
    from rich.table import Table

    from operators.dataset import DatasetError

    dataset = open_or_fail(name)
    try:
        rows = dataset.raw_examples()
    except DatasetError as exc:
        fail(str(exc), 2)
    if as_json:
        print(json.dumps({**_summary(dataset), "first": [data for _, data in rows[:limit]]}))
        return
    summary = _summary(dataset)
    for key in ("name", "folder", "operator", "kind", "task", "round", "created", "examples", "transcripts"):
        out.print(f"{key:<12} {summary[key]}", markup=False, soft_wrap=True)
    table = Table(title=f"first {min(limit, len(rows))} of {len(rows)} examples")
    table.add_column("line", justify="right")
    fields = [k for k in rows[0][1] if k != "provenance"] if rows else []
    for f in fields:
        table.add_column(f)
    table.add_column("provenance")
    for line, data in rows[:limit]:
        prov = data["provenance"]
        cells = [_cell(data.get(f)) for f in fields]
        table.add_row(str(line), *cells, f"{prov['transcript']}:{prov['seq'] + 1} node {prov['node_id']}")
    out.print(table)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if isinstance(value, list):
        return f"{len(value)} item(s)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(text if len(text) <= 60 else text[:57] + "...")


@dataset_app.command("verify")
def verify(name: DatasetArg, as_json: JsonOpt = False) -> None:
    """Prove each example is what its tree produced: exit 0 when all verify, 1 naming each that does not."""
    from operators.dataset import verify_dataset

    dataset = open_or_fail(name)
    report = verify_dataset(dataset)
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
        for problem in report.problems[1:]:
            where = f"{dataset.examples_path}:{problem.line}" if problem.line is not None else str(dataset.folder)
            out.print(f"{where}: {problem.message}", markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@dataset_app.command("export")
def export(
    name: DatasetArg,
    output: Annotated[Path, typer.Option("--out", "-o", help="The file to write (never overwritten).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl: the examples as stored, provenance included.")] = "jsonl",
    as_json: JsonOpt = False,
) -> None:
    """Write the dataset's examples to a file (after a strict read: kind, digest and every line checked)."""
    from operators.dataset import DatasetError

    dataset = open_or_fail(name)
    if output.exists():
        fail(f"--out {output} already exists; an export never overwrites a file", 2)
    if fmt != "jsonl":
        fail(f"--format {fmt!r}: choose jsonl", 2)
    try:
        rows = dataset.raw_examples()
        dataset.check_digest()
    except DatasetError as exc:
        fail(str(exc), 2)
    output.write_text("".join(json.dumps(data, ensure_ascii=False) + "\n" for _, data in rows), encoding="utf-8")
    if as_json:
        print(json.dumps({"dataset": dataset.name, "format": fmt, "out": str(output), "lines": len(rows)}))
    else:
        out.print(f"wrote {len(rows)} example(s) to {output}", markup=False, soft_wrap=True)


@dataset_app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="A chat fine-tuning JSONL file (from `hch distill --format chat`).")],
    as_json: JsonOpt = False,
) -> None:
    """Check a chat fine-tuning file as OpenAI's cookbook does, naming each bad line; report token counts.

    Exit 0 when valid, 1 naming each bad line, 2 when the file cannot be read.
    """
    from operators.imitative.chat import embedded_tokenizer, validate_chat_file

    tokenizer = embedded_tokenizer()
    try:
        report = validate_chat_file(path, *(tokenizer or (None, "")))
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}", 2)
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
        for bad in report.bad[1:]:
            out.print(f"{path}:{bad.line}: {bad.kind}: {bad.message}", markup=False, soft_wrap=True)
        # The summary showed the first bad line (or, with none, the first file-level problem).
        for problem in report.problems if report.bad else report.problems[1:]:
            out.print(f"{path}: {problem}", markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
