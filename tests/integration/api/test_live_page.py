"""The built-in live page in headless Chromium: it shows the overview and follows new readings."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.integration.api.conftest import LIVE, heat_point

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[3] / "var" / "live-page.png"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the browser tests: `apt-get install chromium`")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1920, "height": 1080},
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            yield browser
        finally:
            browser.close()


def _text_becomes(page: Page, element_id: str, text: str) -> None:
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=[element_id, text],
        timeout=30_000,
    )


def test_live_page_shows_the_overview_and_updates_as_readings_arrive(api_world, browser):
    page = browser.new_page()
    page.goto(f"{api_world.url}/live?key={api_world.keys['operator']}")
    total_kw = sum(p - 5 for p, _, _ in LIVE.values())  # the newest point of each meter
    _text_becomes(page, "load-mw", f"{total_kw / 1000:.2f}")
    assert page.text_content("#status") == "live"
    assert page.text_content("#reporting") == "4 / 4"
    assert "key=" not in page.url  # the key left the address bar for sessionStorage
    assert page.evaluate("sessionStorage.getItem('borlange-api-key')") == api_world.keys["operator"]
    supply = sum(s for _, s, _ in LIVE.values()) / 4
    assert page.text_content("#supply-c") == f"{supply:.1f}"

    # A new reading: substation 1 jumps to 4805 kW, so the total becomes 5.19 MW.
    api_world.write([heat_point("hm-sub-1", time.time_ns(), 4805.0, 100.0, 40.0)])
    new_total_kw = total_kw - (800.0 - 5) + 4805.0
    _text_becomes(page, "load-mw", f"{new_total_kw / 1000:.2f}")
    page.wait_for_function("!document.getElementById('readings-seen').textContent.startsWith('0 ')")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.close()


def test_live_page_asks_for_a_key_and_rejects_a_wrong_one(api_world, browser):
    page = browser.new_page()
    page.goto(f"{api_world.url}/live")
    assert page.is_visible("#key-form")
    page.fill("#key-input", "wrong-key")
    page.click("button[type=submit]")
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('check the API key')", timeout=30_000
    )
    assert page.is_visible("#key-form")
    page.fill("#key-input", api_world.keys["tunabyggen"])
    page.click("button[type=submit]")
    _text_becomes(page, "reporting", "2 / 2")  # a tenant's page covers its own meters only
    page.close()
