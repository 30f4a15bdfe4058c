"""The HTML report in a real browser (Debian's Chromium through Playwright): it renders with no error and no
request anywhere, its charts draw (every bar has a size and its value's height), hostile text stays text, and a
screenshot is taken (scripts/eval_report_screenshot.py writes the one in docs/evaluations.md the same way)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from basalt.evals import report

from .test_report import make_result

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright cannot download its own browser here (make test installs it)


def test_the_report_renders_and_its_charts_draw_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    page_file = tmp_path / "report.html"
    page_file.write_text(report.render(make_result()), encoding="utf-8")
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert page.title() == "capitals & sums — Basalt evaluation"
            assert page.locator("svg").count() == 3  # overall + accuracy and correctness by category
            bars = page.locator("rect.bar")
            assert bars.count() == 16
            for i in range(bars.count()):
                box = bars.nth(i).bounding_box()
                assert box is not None and box["width"] > 10 and box["height"] >= 1
                value = max(0.0, min(1.0, float(bars.nth(i).get_attribute("data-value") or "nan")))
                assert abs(box["height"] - max(1.0, report.CHART_H * value)) < 1.0  # drawn to scale
            # The answer "<script>alert(1)</script> 8" is shown as text, not run.
            assert page.locator("script").count() == 0
            assert page.get_by_text("<script>alert(1)</script> 8").count() == 1
            assert page.locator("table").count() == 2
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_file.as_uri()]  # self-contained: nothing else is fetched
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
