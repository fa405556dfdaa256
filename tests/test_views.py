"""Audit views: `hch show` (tree and one node), `hch diff`, `hch export --html`; malformed input everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hch import hch_tree, run_question
from hch.testing import CountingLeaf, RandomOverseer
from tests.audit_helpers import edit_line, hch, lines_of, one_line_error, task_run, task_spec, write_lines
from transcripts.html import export_html, page_data
from transcripts.reader import read_transcript

NASTY = '</script><img src=x onerror="alert(1)"> & [bold]x[/] \u2028 @@DATA@@'


@pytest.fixture
async def run_file(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "run.jsonl", task_spec(task="assignments", seed=2, depth=6))


def test_show_draws_the_tree_with_answers_workers_and_calls(run_file: Path, hch_home: Path) -> None:
    t = read_transcript(run_file)
    proc = hch("show", str(run_file), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert t.header.question in proc.stdout
    assert t.end is not None and f"answer   {t.end.answer}" in proc.stdout
    worked = [e for e in t.events if e.kind == "node_start"]
    # One line per node, each with its id.
    for e in worked[:20]:
        assert re.search(rf"(^|\s){re.escape(e.node_id)}\s", proc.stdout), e.node_id
    assert "assignments-overseer" in proc.stdout and "oracle" in proc.stdout
    shallow = hch("show", str(run_file), "--max-depth", "1", home=hch_home)
    assert shallow.returncode == 0 and "nodes below (--max-depth)" in shallow.stdout
    assert len(shallow.stdout.splitlines()) < len(proc.stdout.splitlines())


def test_show_and_export_read_a_cut_run(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    blob = run_file.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(blob[: len(blob) // 2])
    proc = hch("show", str(cut), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert "unfinished" in proc.stdout
    page = tmp_path / "cut.html"
    proc = hch("export", str(cut), "--html", str(page), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r'id="hch-data">(.*?)</script>', page.read_text(), re.S)
    assert found is not None
    data = json.loads(found[1])
    assert data["end"] is None and data["cut"]


def test_show_node_gives_one_nodes_full_detail(run_file: Path, hch_home: Path) -> None:
    t = read_transcript(run_file)
    call = next(e for e in t.events if e.kind == "oracle_call")
    proc = hch("show", str(run_file), "--node", call.node_id, home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert f"node       {call.node_id}" in proc.stdout
    assert f"oracle {call.question} → {call.answer}" in proc.stdout
    proc = hch("show", str(run_file), "--node", "0.9.9.9", home=hch_home)
    assert proc.returncode == 2 and "no node '0.9.9.9'" in one_line_error(proc)


async def test_diff_aligns_two_runs_and_names_where_they_part(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    same = await task_run(tmp_path / "same.jsonl", task_spec(task="assignments", seed=2, depth=6))
    proc = hch("diff", str(run_file), str(same), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert "identical" in proc.stdout
    lines = lines_of(run_file)
    index = next(i for i, line in enumerate(lines) if '"kind":"answer"' in line and '"node_id":"0.0.0"' in line)
    changed = write_lines(tmp_path / "changed.jsonl", edit_line(lines, index, answer="123"))
    proc = hch("diff", str(run_file), str(changed), "--json", home=hch_home)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["first_divergence"]["node_id"] == "0.0.0"
    assert "123" in report["first_divergence"]["produced"]
    proc = hch("diff", str(run_file), str(changed), home=hch_home)
    assert proc.returncode == 1 and "0.0.0" in proc.stdout and "123" in proc.stdout
    # A shallower run of the same question: nodes only in A.
    shallow = await task_run(tmp_path / "shallow.jsonl", task_spec(task="assignments", seed=2, depth=2))
    report = json.loads(hch("diff", str(run_file), str(shallow), "--json", home=hch_home).stdout)
    assert report["identical"] is False
    assert any(d["what"] == "only in A" for d in report["divergent_nodes"])


async def test_export_writes_one_self_contained_page(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    page = tmp_path / "run.html"
    proc = hch("export", str(run_file), "--html", str(page), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    # Nothing is loaded from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text
    data = json.loads(re.search(r'<script type="application/json" id="hch-data">(.*?)</script>', text, re.S)[1])  # type: ignore[index]
    assert data == json.loads(json.dumps(page_data(read_transcript(run_file))))


async def test_exported_text_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "nasty.jsonl"
    await run_question(hch_tree(RandomOverseer(), CountingLeaf(), 2), NASTY, transcript=path, budget=12)
    text = export_html(read_transcript(path))
    body = text.split('<script type="application/json" id="hch-data">', 1)[1]
    assert body.count("</script>") == 2  # the data element's and the program's, nothing from the data
    assert "<img" not in text
    assert "@@" not in text.replace("@@DATA@@", "")  # the template was filled once, not re-filled from data
    title = re.search(r"<title>(.*?)</title>", text, re.S)[1]  # type: ignore[index]
    assert "&lt;/script&gt;" in title


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{}"],
        ["show", "{}", "--node", "0"],
        ["diff", "{}", "{}"],
        ["export", "{}", "--html", "{}.html"],
        ["replay", "{}"],
        ["verify", "{}"],
        ["run", "--resume", "{}"],
    ],
)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all\n", ":1: not JSON"),
        (b'{"kind": "header", "schema_version": 99, "run_id": "x"}\n', ":1: schema version 99 is not supported"),
        (b'{"kind": "ask", "node_id": "0", "questions": [], "seq": 1, "time": 0, "hash": ""}\n', ":1: first line"),
        (b'{"name": "a config file"}\n', ":1: not a transcript"),
        (b"", ":1: no header"),
    ],
    ids=["not-json", "wrong-version", "missing-header", "not-a-transcript", "empty"],
)
def test_malformed_input_is_one_line_exit_2(
    tmp_path: Path, hch_home: Path, command: list[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    proc = hch(*[a.replace("{}", str(bad)) for a in command], home=hch_home)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert f"{bad}{message}" in one_line_error(proc)


async def test_a_bad_line_in_the_middle_is_named(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    lines = lines_of(run_file)
    bad = write_lines(tmp_path / "bad.jsonl", [*lines[:9], '{"kind": "answer", "node_id": "0"}', *lines[9:]])
    for command in (["show", str(bad)], ["export", str(bad), "--html", str(tmp_path / "x.html")], ["replay", str(bad)]):
        proc = hch(*command, home=hch_home)
        assert proc.returncode == 2 and f"{bad}:10: invalid 'answer' event" in one_line_error(proc)
    proc = hch("show", str(tmp_path / "missing.jsonl"), home=hch_home)
    assert proc.returncode == 2 and "cannot read" in one_line_error(proc)
