"""RRM's events on the HTML page in headless Chromium: a comparison's feedback and an agent's reward scores."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from hch.app.spec import RRMSpec, RunSpec, TaskSpec, build_model
from hch.executor import run_question
from operators.rrm.comparison import comparison_question
from tests.audit_helpers import hch
from tests.test_html_chromium import browser  # noqa: F401  (the headless Chromium fixture)

FACTS = {"permutation": [1, 2, 3, 0]}


async def page_of(spec: RunSpec, tmp_path: Path, home: Path, driver: WebDriver, name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    await run_question(
        build_model(spec), spec.question, transcript=path, settings={"spec": spec.model_dump(mode="json")}
    )
    page = tmp_path / f"{name}.html"
    assert hch("export", str(path), "--html", str(page), home=home).returncode == 0
    driver.get(page.as_uri())


async def test_feedback_and_reward_scores_on_the_page(
    browser: WebDriver,  # noqa: F811
    tmp_path: Path,
    hch_home: Path,
) -> None:
    task = TaskSpec(name="permutation", facts=FACTS)
    rrm = RRMSpec(role="compare", candidates=2, noise=0.0, seed=0, assisted=True, assist_depth=1)
    compare = RunSpec(question=comparison_question("s^3(0)", "3", "<b>2</b>"), depth=2, task=task, rrm=rrm)
    await page_of(compare, tmp_path, hch_home, browser, "compare")
    box = browser.find_element(By.ID, "details").find_element(By.CSS_SELECTOR, ".event.feedback")
    text = box.text
    assert "prefers A" in text and "assistant's answer" in text
    assert "A (preferred)" in text and "<b>2</b>" in text  # hostile text shown as text
    assert "consulted 0.0" in text and "s^3(0) → 3" in text

    agent = RunSpec(question="s^2(1)", depth=0, task=task, rrm=RRMSpec(role="agent", candidates=3, noise=0.5, seed=1))
    await page_of(agent, tmp_path, hch_home, browser, "agent")
    scores = browser.find_element(By.ID, "details").find_element(By.CSS_SELECTOR, ".event.reward_scores").text
    assert "best of 3" in scores and "#0 (chosen)" in scores  # the base agent takes its first candidate
