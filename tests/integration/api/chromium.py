"""Debian's Chromium driven by playwright, for the browser tests, and a network cut-off for a page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with its own profile, 1920×1080, closed at the end of the block."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the browser tests: `apt-get install chromium`")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1920, "height": 1080},
            args=ARGS,
        )
        try:
            yield context
        finally:
            context.close()


def cut_off(page: Page) -> list[str]:
    """Abort every request of ``page`` that is not for a loopback host, as on a machine without
    internet; returns the list of such URLs the page tried (empty if it never tried)."""
    attempted: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        scheme, host = urlsplit(url).scheme, urlsplit(url).hostname or ""
        if scheme in ("data", "blob") or host in LOOPBACK:
            route.continue_()
        else:
            attempted.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", handle)
    return attempted
