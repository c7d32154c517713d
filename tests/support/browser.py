"""A real headless browser for the web tests: Debian's chromium driven by Selenium through its
chromedriver, with axe-core run on every page it shows (no WCAG 2.1 A/AA violation allowed)
and no console error (a script or style refused by the Content-Security-Policy is one).

Without chromium the browser tests skip, and the run ends with one line saying how to install
it. With DISTRIBUTIE_REQUIRE_BROWSER=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.support.web import WebProcess

__all__ = ["Browser", "browser", "browser_driver", "pytest_terminal_summary"]

INSTALL_HINT = "apt-get install chromium chromium-driver"
SKIP_REASON = f"no headless browser (chromium + chromedriver); install one: {INSTALL_HINT}"
AXE = (Path(__file__).resolve().parent / "axe" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})
  .then(r => done(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' '))}))))
  .catch(e => done('axe failed: ' + e));
"""
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def start_chromium(profile: Path, language: str | None = None) -> webdriver.Chrome | None:
    """A headless chromium with a fresh profile, or None when none is installed. `language`
    (e.g. "nl") is what its own controls speak, such as the file chooser's button."""
    binary = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    if language is not None:
        options.add_argument(f"--lang={language}")
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="session")
def browser_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    if driver is None:
        if os.environ.get("DISTRIBUTIE_REQUIRE_BROWSER"):
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    yield driver
    driver.quit()


def is_stale(element: WebElement) -> bool:
    """Whether `element` belongs to a page the browser has left.

    While the next page loads, chromedriver may answer for a node of the old one with an inspector
    error ("Node with given id does not belong to the document") rather than "stale element",
    which Selenium's own staleness_of does not take for an answer.
    """
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def wait_until_left(driver: webdriver.Chrome, page: WebElement, seconds: float = 15) -> None:
    """Wait until the browser has left the page whose <html> element is `page`."""
    WebDriverWait(driver, seconds).until(lambda _: is_stale(page))


class Browser:
    """The browser on one web server; every page it lands on is checked with axe-core."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self.pages: list[str] = []

    def open(self, path_or_url: str) -> None:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        self.driver.get(url)
        self.check_page()

    def fill(self, field_id: str, value: str) -> None:
        element = self.driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)

    def click(self, css: str) -> None:
        """Click what leads to a new page (a button or link), and check that page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        wait_until_left(self.driver, old)
        self.check_page()

    def download(self, css: str, folder: Path, timeout: float = 30) -> Path:
        """Click the download link `css`; the file the browser saved in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)}
        )
        before = set(folder.iterdir())
        self.find(css).click()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [p for p in set(folder.iterdir()) - before if p.suffix != ".crdownload"]
            if done:
                return done[0]
            time.sleep(0.1)
        raise AssertionError(f"clicking {css} downloaded nothing within {timeout} s")

    def wait_for(self, css: str, count: int, timeout: float = 60) -> None:
        """Until exactly `count` elements match `css` (the page updating itself)."""
        WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) == count,
            f"never {count} of {css}",
        )

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    @property
    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    @property
    def h1(self) -> str:
        headings = self.find_all("h1")
        assert len(headings) == 1, f"{self.path} has {len(headings)} <h1> elements"
        return headings[0].text

    @property
    def text(self) -> str:
        return self.find("body").text

    def check_page(self) -> None:
        WebDriverWait(self.driver, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        self.pages.append(self.path)
        assert len(self.find_all("h1")) == 1, f"{self.path}: not exactly one <h1>"
        self.driver.execute_script(AXE)
        violations: Any = self.driver.execute_async_script(_RUN_AXE, AXE_TAGS)
        assert violations == [], f"axe-core on {self.path}: {violations}"
        assert self.console_errors() == [], f"console errors on {self.path}"

    def console_errors(self) -> list[str]:
        errors = []
        for entry in self.driver.get_log("browser"):  # type: ignore[no-untyped-call]
            message = str(entry.get("message", ""))
            # The page itself answering 403/404/429 is what some tests expect.
            expected = "Failed to load resource: the server responded with a status of 4"
            if expected in message and message.startswith(self.driver.current_url):
                continue
            if entry.get("level") == "SEVERE":
                errors.append(message)
        return errors


@pytest.fixture
def browser(browser_driver: webdriver.Chrome, web: WebProcess, redis_url: str) -> Browser:
    """The browser on the module's web server, with no cookies, after Redis was emptied."""
    browser_driver.delete_all_cookies()
    browser_driver.get_log("browser")  # drop what earlier tests left
    return Browser(browser_driver, web.url)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_REASON in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} browser tests skipped: no headless browser; install one with "
            f"`{INSTALL_HINT}`"
        )
