"""A real browser for the pages we generate: Debian's headless Chromium, driven by
Selenium through the system ``chromedriver`` (no browser download: Selenium Manager is
never asked, the driver's path is given).

``make test`` installs ``chromium`` and ``chromium-driver`` when they are missing and it
can (root with apt-get, as in CI). Where they are not installed, these tests are skipped
with the reason; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Screenshots the tests write: kept after the run (CI can publish them).
ARTIFACTS = ROOT / "build" / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "dashboard" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.browser)


def _driver_path() -> str | None:
    for candidate in ("/usr/bin/chromedriver", shutil.which("chromedriver")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@dataclass
class PageVisit:
    """What the browser saw of one page."""

    console: list[dict[str, Any]]
    requests: list[str]
    driver: Any

    def js(self, script: str) -> Any:
        return self.driver.execute_script(script)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / name
        self.driver.save_screenshot(str(target))
        return target


class Browser:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def visit(self, page: Path) -> PageVisit:
        """Open ``page`` (a file), wait until every chart has drawn, return what was seen."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("browser")  # drop what earlier pages left
        self.driver.get_log("performance")
        self.driver.get(page.resolve().as_uri())
        WebDriverWait(self.driver, 30).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && Array.from("
                "document.querySelectorAll('.js-plotly-plot')).every(e => e._fullLayout)"
            )
        )
        events = [json.loads(e["message"])["message"] for e in self.driver.get_log("performance")]
        requests = [
            e["params"]["request"]["url"]
            for e in events
            if e["method"] == "Network.requestWillBeSent"
        ]
        return PageVisit(self.driver.get_log("browser"), requests, self.driver)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    driver_path = _driver_path()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if driver_path is None or chromium is None:
        reason = "headless Chromium is not installed (Debian: chromium, chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: the browser tests must run, but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
