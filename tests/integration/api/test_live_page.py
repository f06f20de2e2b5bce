"""The built-in live page in headless Chromium: it shows the overview and follows new readings,
titled and scaled for its scope, at every width from a phone to a control-room screen."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from energy_testing import services as local_services
from tests.integration.api.chromium import ARGS, CHROMIUM, chromium, cut_off
from tests.integration.api.conftest import LIVE, heat_point
from tests.integration.api.substation_world import sub_world_fixture, today  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

SCREENSHOT = Path(__file__).resolve().parents[3] / "var" / "live-page.png"
WIDTHS = (320, 420, 768, 1280, 1920)
# Whether the page scrolls sideways, and which units break across lines (a text node split over
# more than one line box has more than one client rect).
NO_OVERFLOW = "document.scrollingElement.scrollWidth <= window.innerWidth"
BROKEN_UNITS = """() => [...document.querySelectorAll('.unit')].filter((unit) => {
  const range = document.createRange(); range.selectNodeContents(unit);
  return range.getClientRects().length > 1;
}).map((unit) => unit.textContent)"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def _text_becomes(page: Page, element_id: str, text: str) -> None:
    page.wait_for_function(
        "([id, text]) => document.getElementById(id).textContent === text",
        arg=[element_id, text],
        timeout=30_000,
    )


def test_live_page_shows_the_overview_and_updates_as_readings_arrive(api_world, browser):
    page = browser.new_page()
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/stream" in request.url else None)
    page.goto(f"{api_world.url}/live?key={api_world.keys['operator']}")
    total_kw = sum(p - 5 for p, _, _ in LIVE.values())  # the newest point of each meter
    _text_becomes(page, "load", f"{total_kw / 1000:.2f}")
    assert page.text_content("#load-unit") == "MW"
    assert page.text_content("#title") == "Borlänge district heating — network overview"
    assert page.text_content("#status") == "live"
    assert page.text_content("#reporting") == "4 / 4"
    assert "key=" not in page.url  # the key left the address bar for sessionStorage
    assert page.evaluate("sessionStorage.getItem('borlange-api-key')") == api_world.keys["operator"]
    # Flow-weighted: the meters send no flow, so each weighs by the flow its power needs, P / ΔT.
    flow = {d: (p - 5) / (s - r) for d, (p, s, r) in LIVE.items()}
    supply = sum(s * flow[d] for d, (_, s, _) in LIVE.items()) / sum(flow.values())
    assert page.text_content("#supply-c") == f"{round(supply, 2):.1f}"  # the API rounds to 0.01 first

    # A new reading: substation 1 jumps to 4805 kW, so the total becomes 5.19 MW.
    api_world.write([heat_point("hm-sub-1", time.time_ns(), 4805.0, 100.0, 40.0)])
    new_total_kw = total_kw - (800.0 - 5) + 4805.0
    _text_becomes(page, "load", f"{new_total_kw / 1000:.2f}")
    page.wait_for_function("!document.getElementById('readings-seen').textContent.startsWith('0 ')")
    # The page asks for counts, not for every reading it would only count.
    assert streams
    assert all("readings=count" in url for url in streams)
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


def test_an_owners_page_is_titled_for_the_owner_and_shows_its_load_in_kw(api_world, browser):
    page = browser.new_page()
    page.goto(f"{api_world.url}/live?key={api_world.keys['tunabyggen']}")
    owner_kw = (120.0 - 5) + (80.0 - 5)  # hm-tb-1 and hm-tb-2, newest points
    _text_becomes(page, "load", f"{owner_kw:.0f}")
    assert page.text_content("#load-unit") == "kW"
    _text_becomes(page, "title", "Tunabyggen buildings")
    assert "network overview" not in page.title()
    page.close()


@pytest.mark.parametrize("who", ["operator", "tunabyggen"])
def test_live_page_fits_every_width_and_no_unit_breaks(api_world, browser, who):
    page = browser.new_page()
    page.goto(f"{api_world.url}/live?key={api_world.keys[who]}")
    page.wait_for_function("document.getElementById('reporting').textContent !== '–'", timeout=30_000)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(NO_OVERFLOW), f"{who}'s page scrolls sideways at {width} px"
        assert page.evaluate(BROKEN_UNITS) == [], f"a unit breaks at {width} px"
    page.close()


def test_the_key_form_fits_a_phone(api_world, browser):
    page = browser.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{api_world.url}/live")
    assert page.is_visible("#key-form")
    assert page.evaluate(NO_OVERFLOW)
    page.close()


def test_once_shows_a_snapshot_and_closes_the_stream(api_world, browser):
    page = browser.new_page()
    attempted = cut_off(page)
    page.goto(f"{api_world.url}/live?once=1&key={api_world.keys['tunabyggen']}")
    _text_becomes(page, "status", "snapshot")
    assert page.text_content("#reporting") == "2 / 2"
    assert attempted == []
    page.close()


def test_headless_chromium_with_a_virtual_time_budget_screenshots_a_snapshot(api_world, tmp_path):
    """``--virtual-time-budget`` cannot run out while a stream is open; ``?once=1`` closes it."""
    shot = tmp_path / "live.png"
    url = f"{api_world.url}/live?once=1&key={api_world.keys['operator']}"
    command = [CHROMIUM, "--headless", *ARGS, f"--user-data-dir={tmp_path / 'profile'}",
               "--window-size=1280,900", "--virtual-time-budget=5000", f"--screenshot={shot}",
               url]  # fmt: skip
    process = local_services.track(
        subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=local_services.child_preexec(),  # PR_SET_PDEATHSIG, as for the servers
            start_new_session=True,  # its own process group: its renderers go with it
        )
    )
    try:
        # A bound for a hung browser, not a timing assertion: it finishes in seconds.
        assert process.wait(timeout=120) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("chromium --virtual-time-budget did not finish on /live?once=1")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert shot.stat().st_size > 1000


# -- the operator's part (issue 15): trend chart, ranked substations, open faults ---------------

BOARD_LOADED = "document.getElementById('board').dataset.loaded === 'true'"
RANKED = "[...document.querySelectorAll('#ranking tbody tr')].map((tr) => tr.dataset.site)"


def test_the_operators_page_draws_the_trend_and_ranks_substations_with_their_open_faults(sub_world, browser):
    page = browser.new_page()
    page.goto(f"{sub_world.url}/live?key={sub_world.keys['operator']}")
    page.wait_for_function(BOARD_LOADED, timeout=30_000)
    # The chart: two hours of readings in 15-minute buckets, three lines drawn through them.
    assert int(page.get_attribute("#trend", "data-points") or "0") >= 8
    for line in ("load", "supply", "return"):
        d = page.get_attribute(f"#trend-{line}", "d") or ""
        assert d.startswith("M"), line
        assert d.count("L") >= 7, line
    assert page.is_hidden("#trend-empty")
    assert page.text_content("#trend-load-range") == "595 kW–595 kW"
    # The ranking: the last 7 days' ΔT, worst first, each site by name and address.
    assert page.evaluate(RANKED) == ["tb-2", "ot-1", "sub-1", "ot-2", "tb-1"]
    first = page.locator("#ranking tbody tr").first
    assert first.locator(".site-name").text_content() == "Tunabyggen Gylle 2"
    assert first.locator(".site-address").text_content() == "Gyllehemsvägen 2, Borlänge"
    assert first.locator(".fault").text_content() == "low delta t"
    assert page.locator("#ranking tr[data-site='ot-1'] .fault.critical").text_content() == "silent meter"
    assert page.locator("#ranking tr[data-site='ot-1'] .fault").get_attribute("data-code") == "silent_meter"
    # The open faults, with their evidence.
    faults = page.evaluate(
        "[...document.querySelectorAll('#faults li')].map((li) => li.dataset.site + ':' + li.dataset.code)"
    )
    assert faults == ["ot-1:silent_meter", "tb-2:low_delta_t"]
    assert "ΔT 16.5 K < 25 K over 24 h" in (page.text_content("#faults li[data-code='low_delta_t']") or "")
    silent = page.text_content("#faults li[data-code='silent_meter']") or ""
    assert "Meter silent" in silent
    # Since 03:00 Stockholm time two days ago, whatever the browser's own zone.
    since = today() - dt.timedelta(days=2)
    assert f"since {since.isoformat()} 03:00" in silent
    page.close()


def test_an_owners_operator_page_lists_only_its_own_substations_and_faults(sub_world, browser):
    page = browser.new_page()
    page.goto(f"{sub_world.url}/live?key={sub_world.keys['tunabyggen']}")
    page.wait_for_function(BOARD_LOADED, timeout=30_000)
    assert page.evaluate(RANKED) == ["tb-2", "tb-1"]
    assert page.evaluate("[...document.querySelectorAll('#faults li')].map((li) => li.dataset.site)") == [
        "tb-2"
    ]
    assert page.text_content("#trend-load-range") == "23 kW–23 kW"  # tb-1's 22.9 kW only
    page.close()


@pytest.mark.parametrize("width", [320, 375, 400])
def test_the_operators_page_has_no_sideways_scroll_at_phone_width(sub_world, browser, width):
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{sub_world.url}/live?key={sub_world.keys['operator']}")
    page.wait_for_function(BOARD_LOADED, timeout=30_000)
    page.wait_for_function("document.getElementById('reporting').textContent !== '–'", timeout=30_000)
    assert page.evaluate(NO_OVERFLOW), f"the operator's page scrolls sideways at {width} px"
    # Every substation row fits the screen: name, address and KPIs stacked, not cut off.
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('#ranking tr, #faults li, #trend')]"
        ".map((e) => e.getBoundingClientRect().right))"
    )
    assert widest <= width, f"something ends at {widest} px on a {width} px screen"
    assert page.is_visible("#ranking tbody tr .site-address")
    page.close()
