"""Screenshot of an evaluation report for docs/evaluations.md, in Debian's Chromium through Playwright:

.venv/bin/python scripts/eval_report_screenshot.py RESULT.json docs/images/eval-report.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from basalt.evals import report, results

CHROMIUM = "/usr/bin/chromium"


def main(result_path: str, png: str) -> None:
    from playwright.sync_api import sync_playwright

    page_html = report.render(results.load(Path(result_path)))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        html = Path(tmp) / "report.html"
        html.write_text(page_html, encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(html.as_uri())
            Path(png).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=png, full_page=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
