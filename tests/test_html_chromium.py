"""The HTML export in a real browser: headless Chromium opens the page, expands down to a leaf and reads it.

Chromium and its driver are Debian packages (chromium, chromium-driver); this
test fails, rather than skips, when they are missing, because the page is only
known to work if a browser has shown it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from hch import Node, Workspace, hch_tree, run_question
from hch.app.spec import RunSpec, build_model
from hch.llm.client import LLMClient
from hch.llm.settings import LLMSettings
from hch.testing import BranchingPolicy, FaultConfig, FaultServer
from tests.audit_helpers import hch
from tests.test_views import NASTY
from tests.tools import need
from transcripts.reader import read_transcript
from transcripts.tree import build_tree


@dataclass
class Branching:
    """Asks ``fanout`` subquestions at every level: a full tree."""

    fanout: int = 3
    name: str = "branching-overseer"

    async def __call__(self, ws: Workspace) -> str:
        answers = await ws.ask(*[f"{ws.question}/{i}" for i in range(self.fanout)])
        return " + ".join(answers)[:60]


@dataclass
class Leaf:
    name: str = "leaf-model"
    level: int = 0

    async def answer(self, node: Node) -> str:
        return f"leaf answer {node.question.count('/')}:{node.question.rsplit('/', 3)[-3:]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, chromedriver = need("chromium"), need("chromedriver")  # each fails naming its package
    profile = tempfile.mkdtemp(prefix="hch-chromium-")
    options = Options()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def row(driver: WebDriver, node_id: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'li[data-node-id="{node_id}"] > .row')


async def test_a_300_node_page_expands_to_a_leaf_and_shows_its_answer(
    browser: WebDriver, tmp_path: Path, hch_home: Path
) -> None:
    # A 341-node LLM run (426 model calls) against the fault server.
    path = tmp_path / "big.jsonl"
    spec = RunSpec(question="Q", depth=4, overseer="llm")
    with FaultServer(FaultConfig(), answer=BranchingPolicy(fanout=(4, 4, 4, 4))) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, cache=False)
        async with LLMClient(settings, environ={}) as client:
            await run_question(build_model(spec, llm=client), spec.question, transcript=path)
    transcript = read_transcript(path)
    root = build_tree(transcript.events)
    assert root is not None
    nodes = root.walk()
    assert len(nodes) >= 300
    leaf = max(nodes, key=lambda n: (n.node_id.count("."), n.node_id))
    assert not leaf.children and leaf.answer

    page = tmp_path / "big.html"
    proc = hch("export", str(path), "--html", str(page), home=hch_home)
    assert proc.returncode == 0, proc.stderr
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "summary").text.startswith("Question: Q\n")
    # Only the root is drawn until something is expanded.
    assert row(browser, "0").find_element(By.CSS_SELECTOR, ".toggle").get_attribute("aria-expanded") == "false"
    assert not browser.find_elements(By.CSS_SELECTOR, f'li[data-node-id="{leaf.node_id}"]')

    # Click the expander of each ancestor, root first, down to the leaf.
    parts = leaf.node_id.split(".")
    for depth in range(1, len(parts)):
        ancestor = ".".join(parts[:depth])
        toggle = row(browser, ancestor).find_element(By.CSS_SELECTOR, ".toggle")
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
    leaf_row = row(browser, leaf.node_id)
    assert leaf_row.is_displayed()
    assert leaf_row.find_element(By.CSS_SELECTOR, ".answer").text == leaf.answer
    assert leaf_row.find_element(By.CSS_SELECTOR, ".question").text == leaf.question

    # Selecting it shows its details.
    leaf_row.click()
    details = browser.find_element(By.ID, "details")
    assert details.find_element(By.TAG_NAME, "h2").text == f"Node {leaf.node_id}"
    assert details.find_element(By.CSS_SELECTOR, ".detail-answer").text == leaf.answer
    # ... including the prompt it was given and the model's reply.
    assert "llm:fault-model" in details.text
    prompts = [p.text for p in details.find_elements(By.CSS_SELECTOR, ".msg.prompt pre")]
    assert any("Answer it directly and briefly" in p for p in prompts)
    assert prompts[-1].startswith(f"Question: {leaf.question}")
    assert details.find_element(By.CSS_SELECTOR, ".msg.response pre").text == json.dumps({"answer": leaf.answer})

    # Collapsing an ancestor hides it again.
    row(browser, ".".join(parts[:2])).find_element(By.CSS_SELECTOR, ".toggle").click()
    assert not leaf_row.is_displayed()

    # Search reveals a deep node by its question and selects it on Enter.
    target = next(n for n in nodes if n.node_id.count(".") == 4 and n.node_id != leaf.node_id)
    box = browser.find_element(By.ID, "search")
    box.send_keys(target.question)
    assert browser.find_element(By.ID, "search-count").text.split()[0].isdigit()
    box.send_keys(Keys.ENTER)
    assert row(browser, target.node_id).is_displayed()
    assert "hit" in (row(browser, target.node_id).get_attribute("class") or "")
    assert details.find_element(By.TAG_NAME, "h2").text.startswith("Node ")
    # Nothing was fetched: the page is one file.
    entries = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert entries == 0


async def test_hostile_text_is_shown_as_text(browser: WebDriver, tmp_path: Path, hch_home: Path) -> None:
    path = tmp_path / "nasty.jsonl"
    await run_question(hch_tree(Branching(fanout=2), Leaf(), 1), NASTY, transcript=path)
    page = tmp_path / "nasty.html"
    assert hch("export", str(path), "--html", str(page), home=hch_home).returncode == 0
    browser.get(page.as_uri())
    assert row(browser, "0").find_element(By.CSS_SELECTOR, ".question").text == " ".join(NASTY.split())
    assert not browser.find_elements(By.CSS_SELECTOR, "img")
    facts = browser.find_element(By.ID, "details").find_element(By.CSS_SELECTOR, "table.facts").text
    assert f"question {' '.join(NASTY.split())}" in facts


async def test_a_debate_is_shown_as_its_moves_and_verdict(browser: WebDriver, tmp_path: Path, hch_home: Path) -> None:
    from operators.dataset import DatasetWriter
    from operators.debate.runner import DebateExample, run_debates, task_debates
    from operators.paths import dataset_dir
    from operators.questions import question_set
    from transcripts.events import DebateTurn

    specs = task_debates(question_set("permutation", 1, 7, 64, None), turns=12, judge="program", liar="consistent")
    summary, _ = await run_debates(specs, DatasetWriter(dataset_dir("page"), DebateExample, operator="debate"))
    (path,) = summary.transcripts
    turns = [e for e in read_transcript(path).events if isinstance(e, DebateTurn)]
    page = tmp_path / "debate.html"
    assert hch("export", str(path), "--html", str(page), home=hch_home).returncode == 0
    browser.get(page.as_uri())
    details = browser.find_element(By.ID, "details")
    boxes = details.find_elements(By.CSS_SELECTOR, ".event.debate_turn")
    assert [b.find_element(By.TAG_NAME, "pre").text for b in boxes] == [t.text for t in turns]
    assert len(details.find_elements(By.CSS_SELECTOR, ".event.debate_turn.liar")) == sum(
        t.side == "liar" for t in turns
    )
    verdict = details.find_element(By.CSS_SELECTOR, ".event.debate_verdict").text
    assert "wins (honest)" in verdict and "fact checked: s^1(" in verdict and "rewards A" in verdict


async def test_the_page_shows_tokens_spent_against_the_allotment(
    browser: WebDriver, tmp_path: Path, hch_home: Path
) -> None:
    path = tmp_path / "tokens.jsonl"
    spec = RunSpec(question="Q", depth=1, overseer="llm", token_budget=40_000)
    with FaultServer(FaultConfig(), answer=BranchingPolicy(fanout=(2,))) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, cache=False, max_tokens=64)
        async with LLMClient(settings, environ={}) as client:
            result = await run_question(
                build_model(spec, llm=client), spec.question, transcript=path, token_budget=spec.token_budget
            )
    assert result.tokens_spent > 0
    page = tmp_path / "tokens.html"
    assert hch("export", str(path), "--html", str(page), home=hch_home).returncode == 0
    browser.get(page.as_uri())
    summary = browser.find_element(By.ID, "summary").text
    assert f"token budget: {result.tokens_spent} of 40000 spent" in summary
    facts = browser.find_element(By.ID, "details").find_element(By.CSS_SELECTOR, "table.facts").text
    assert f"token budget 40000 tokens, spent {result.tokens_spent}" in facts
