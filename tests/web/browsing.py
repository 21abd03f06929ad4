"""Helpers of the browser tests: a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium) driving the dashboard of a running ``suanli serve``.

``source scripts/services-browser.sh`` installs the browser and exports ``SUANLI_CHROMIUM`` and
``SUANLI_CHROMEDRIVER``; without a browser these tests are skipped, except under ``CI=true``,
where they fail. Screenshots go to ``$SUANLI_ARTIFACTS/screenshots`` (default
``./artifacts/screenshots``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "service"))

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 30.0


def browser_paths() -> tuple[str, str]:
    """The Chromium binary and its driver, or a skip (a failure under CI=true)."""
    binary = os.environ.get("SUANLI_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("SUANLI_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        why = "no chromium/chromedriver: run `source scripts/services-browser.sh` first"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return binary, driver


def new_browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    binary, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the suite runs as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=DriverService(executable_path=driver))


def artifacts_dir() -> Path:
    root = Path(os.environ.get("SUANLI_ARTIFACTS") or Path.cwd() / "artifacts")
    out = root / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class Served:
    """A running `suanli serve` and a token per caller (operator, tenant, other, regulator)."""

    url: str
    tokens: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )


class Dashboard:
    """One browser tab on the dashboard of the service at ``url``."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver, self.url = driver, url

    def wait(
        self, what: Callable[[webdriver.Chrome], Any], why: str, timeout: float = WAIT_S
    ) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(what)
        except TimeoutException:
            self.shot(f"timeout-{why.replace(' ', '-')[:40]}")
            body = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"timed out waiting for {why}; the page says:\n{body}") from None

    def renders(self) -> int:
        return int(self.driver.execute_script("return Number(document.body.dataset.renders||0)"))

    def go(self, hash_: str) -> None:
        """Navigate inside the app (no reload) and wait until the page has rendered data."""
        before = self.renders()
        self.driver.execute_script("location.hash = arguments[0]", hash_)
        self.wait(lambda d: self.renders() > before, f"page {hash_} to render")

    def login(self, token: str) -> None:
        self.driver.get(f"{self.url}/ui/#/login")
        self.wait(lambda d: d.find_elements(By.ID, "token"), "the login form")
        self.driver.execute_script("sessionStorage.clear()")
        field = self.driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        before = self.renders()
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait(lambda d: self.renders() > before, "the login to answer")

    def page(self) -> str:
        return str(self.driver.execute_script("return document.body.dataset.page || ''"))

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text_of(self, css: str) -> str:
        """The text of the first element matching ``css`` ('' if none), read in one step, so
        a live re-render cannot make it stale."""
        return str(
            self.driver.execute_script(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css
            )
        )

    def text(self) -> str:
        return str(self.find("main").text)

    def shot(self, name: str, max_height: int = 2400) -> Path:
        """The whole page (up to ``max_height`` CSS pixels), not only the viewport."""
        import base64

        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": size["width"],
            "height": min(size["height"], max_height),
            "scale": 1,
        }
        png = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )["data"]
        path = artifacts_dir() / f"{name}.png"
        path.write_bytes(base64.b64decode(png))
        return path
