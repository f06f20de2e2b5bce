"""The landing page and the API documentation in headless Chromium, with the network cut off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext

from tests.integration.api.chromium import chromium, cut_off

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def test_docs_render_the_operations_without_internet(api_world, browser):
    page = browser.new_page()
    attempted = cut_off(page)
    page.goto(f"{api_world.url}/docs")
    page.wait_for_selector('.opblock-summary-path[data-path="/network/overview"]', timeout=30_000)
    assert page.locator(".opblock").count() > 10
    assert attempted == []
    page.close()


def test_redoc_renders_the_operations_without_internet(api_world, browser):
    page = browser.new_page()
    attempted = cut_off(page)
    page.goto(f"{api_world.url}/redoc")
    page.get_by_text("/network/overview", exact=True).first.wait_for(state="attached", timeout=30_000)
    assert page.locator("[data-section-id^='tag/']").count() > 3
    assert attempted == []
    page.close()


def test_landing_page_links_the_live_page_the_docs_and_the_metrics(api_world, browser):
    page = browser.new_page()
    attempted = cut_off(page)
    response = page.goto(f"{api_world.url}/")
    assert response is not None
    assert response.status == 200
    assert "key" in page.text_content("body")
    for name, path in (("live", "/live"), ("docs", "/docs"), ("redoc", "/redoc"), ("metrics", "/metrics")):
        href = page.eval_on_selector(f"#{name}", "a => a.href")
        assert href == f"{api_world.url}{path}", name
    page.click("#docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert attempted == []
    page.close()
