"""A real `basalt serve` (auth on, the bundled model) and Debian's Chromium driven by Playwright for the console
tests; axe-core (bundled by axe-playwright-python) for the accessibility checks; screenshots into docs/images/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..batches.conftest import link_models
from ..control.servers import Server

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright cannot download its own browser here (make test installs it)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CONFIG = {
    "control": {"auth": True},
    "engine": {"context_window": 1024, "max_seqs": 4},
    "batches": {"concurrency": 2, "poll_seconds": 0.2, "sweep_seconds": 1},
}
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = link_models(basalt_home, tmp_path_factory.mktemp("console-home"))
    server = Server(home, CONFIG).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin_key(server: Server) -> str:
    return (server.home / "admin-key").read_text().strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """One browser tab on the console, which fails the test on any script error or CSP violation it saw."""

    def __init__(self, page: Any, server: Server) -> None:
        self.page = page
        self.url = server.url + "/console"
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or (message.type == "error" and "Failed to load" not in text):
            self.problems.append(f"console {message.type}: {text}")

    def sign_in(self, key: str) -> None:
        page = self.page
        page.goto(self.url)
        field = page.get_by_label("API key")
        field.fill(key)
        field.press("Enter")
        page.get_by_test_id("who").wait_for()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_label("API key").wait_for()

    def open(self, label: str) -> None:
        """A page, reached the way a keyboard user would: focus its link in the navigation and press Enter."""
        link = self.page.get_by_role("navigation").get_by_role("link", name=label, exact=True)
        link.focus()
        link.press("Enter")
        self.page.get_by_role("heading", level=1, name=label).wait_for()

    def accessible(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        if self.page.evaluate("typeof axe") == "undefined":  # once per page load: hash routes keep it
            self.page.evaluate(Axe().axe_script)
        found = self.page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found
            if v["impact"] in SERIOUS
        ]
        assert not serious, serious

    def shoot(self, name: str) -> None:
        """The page as it stands, for docs/console.md, after the accessibility check."""
        self.accessible()
        IMAGES.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)


@pytest.fixture
def console(browser: Any, server: Server) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    tab = Console(context.new_page(), server)
    tab.page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield tab
        assert not tab.problems, tab.problems
    finally:
        context.close()
