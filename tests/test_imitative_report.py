"""hch iterate --report: the curve's page in headless Chromium (the browser fixture of test_html_chromium)."""

from __future__ import annotations

import json
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.audit_helpers import hch, one_line_error
from tests.test_html_chromium import browser

__all__ = ["browser"]


def test_the_report_page_draws_the_curve_and_the_table(browser: WebDriver, hch_home: Path, tmp_path: Path) -> None:
    page = tmp_path / "curve.html"
    args = ["iterate", "--task", "permutation", "--n", "5", "--size", "16", "--rounds", "4", "--name", "p<b>"]
    proc = hch(*args, "--report", str(page), home=hch_home)
    assert proc.returncode == 2 and "dataset name" in one_line_error(proc)  # names are checked before anything runs
    args[-1] = "p"
    proc = hch(*args, "--report", str(page), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)

    browser.get(page.as_uri())
    assert browser.title == "Iterated amplification: permutation (p)"
    svg = browser.find_element(By.CSS_SELECTOR, "#curve svg")
    assert svg.size["width"] == 640 and svg.size["height"] == 320  # rendered, not just present in the source
    distilled = browser.find_elements(By.CSS_SELECTOR, "circle.distilled_accuracy")
    assert len(distilled) == 4
    # Higher accuracy is drawn higher: the points' heights follow the rounds' accuracies.
    heights = [float(c.get_attribute("cy") or 0) for c in distilled]
    accuracies = [r["distilled_accuracy"] for r in report["rounds"]]
    order = sorted(range(4), key=lambda i: accuracies[i])
    assert [heights[i] for i in order] == sorted(heights, reverse=True)
    assert browser.find_elements(By.CSS_SELECTOR, "line.full-depth")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rounds tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [f"{a:.0%}" for a in accuracies]
    proc = hch(*args, "--report", str(page), home=hch_home)
    assert proc.returncode == 2 and "already exists" in one_line_error(proc)
