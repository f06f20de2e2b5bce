"""The live feed's pure parts: pages that always advance in a stable order, and slow subscribers
dropped instead of buffering without end (no servers needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from api.auth import Scope
from api.errors import ApiError
from api.livefeed import QUEUE_TICKS, LiveFeed, overview_of
from api.livepages import LivePoint, split_page
from api.metrics import ApiMetrics
from api.models import Reading
from api.overview import summarise
from energy_core.registry import Registry


def point(ts: int, measurement: str = "district_heating", device: str = "d1", owner: str = "o1") -> LivePoint:
    reading = Reading(
        measurement=measurement,
        device=device,
        site="s1",
        time=dt.datetime.fromtimestamp(0, dt.UTC),
        fields={},
    )
    return LivePoint(ts, owner, reading)


def test_a_page_that_is_not_full_is_complete_and_ends_the_paging():
    page = split_page({"district_heating": [point(5), point(3)], "weather": [point(4, "weather")]}, rows=3)
    assert [p.ts_ns for p in page.points] == [3, 4, 5]
    assert page.next_after is None


def test_a_full_page_keeps_only_rows_before_its_last_instant_and_goes_on_from_there():
    full = [point(1), point(2), point(2, device="d2"), point(3)]
    other = [point(1, "weather"), point(9, "weather")]
    page = split_page({"district_heating": full, "weather": other}, rows=4)
    # Rows at 3 may continue past the page; weather's row at 9 is read again on the next page.
    assert [(p.ts_ns, p.reading.measurement, p.reading.device) for p in page.points] == [
        (1, "district_heating", "d1"),
        (1, "weather", "d1"),
        (2, "district_heating", "d1"),
        (2, "district_heating", "d2"),
    ]
    assert page.next_after == 2  # the next page is time > 2, so time 3 is read whole


def test_a_page_full_of_one_instant_asks_for_that_instant_on_its_own_and_still_advances():
    crowded = [point(7, device=f"d{i}") for i in range(3)]
    page = split_page({"district_heating": crowded}, rows=3)
    assert page.points == []
    assert page.crowded == ("district_heating", 7)


def test_the_order_is_stable_whatever_order_influxdb_sends_ties_in():
    a = split_page({"m": [point(1, "m", "b"), point(1, "m", "a")]}, rows=10)
    b = split_page({"m": [point(1, "m", "a"), point(1, "m", "b")]}, rows=10)
    assert [p.key for p in a.points] == [p.key for p in b.points] == [("m", "a", 1), ("m", "b", 1)]


@pytest.fixture
def feed() -> LiveFeed:
    return LiveFeed(
        None,  # type: ignore[arg-type]  # _publish never queries
        Registry.empty(),
        _NoFactors(),
        ApiMetrics(),
        interval_s=1.0,
        fresh_window_s=900.0,
        streams_per_key=2,
    )


class _NoFactors:
    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None:
        return None


async def test_a_subscriber_that_does_not_keep_up_is_dropped_and_the_others_go_on(feed):
    with (
        feed.subscribe("slow", Scope(None), None, 0) as slow,
        feed.subscribe("fast", Scope("o1"), None, 0) as fast,
    ):
        for i in range(QUEUE_TICKS + 5):
            feed._publish([point(i), point(i, owner="o2")], [], 0, i)
            tick = fast.queue.get_nowait()
            assert [p.owner for p in tick.points] == ["o1"]  # the owner's points only
        assert slow.dropped
        assert not fast.dropped
        assert feed.metrics.registry.get_sample_value("api_streams_dropped_total") == 1


def test_a_key_gets_at_most_its_cap_of_subscriptions(feed):
    with feed.subscribe("k", Scope(None), None, 0), feed.subscribe("k", Scope(None), None, 0):
        with pytest.raises(ApiError) as caught, feed.subscribe("k", Scope(None), None, 0):
            pass
        assert (caught.value.status, caught.value.code) == (429, "too_many_streams")
        with feed.subscribe("other", Scope(None), None, 0):
            pass
    with feed.subscribe("k", Scope(None), None, 0):
        pass


class _FixedFactor:
    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None:
        return 54.9


def test_the_live_overview_is_the_network_overviews_arithmetic_rounded_alike():
    """Two meters, by hand: load 60.01234 + 40.02 = 100.03234 kW → 0.100032 MW (6 decimals);
    supply (80.805 + 80.8) / 2 = 80.8025 → 80.8 °C; ΔT 80.8 − 40 = 40.8 K;
    emission rate 100.03234 kW × 54.9 g/kWh = 5.4917755 kg/h → 5.492."""
    tags = {"owner": "o1", "site": "s1", "network": "n"}
    rows = [
        (tags, {"time": 1, "power_kw": 60.01234, "supply_temp_c": 80.805, "return_temp_c": 40.0}),
        (tags, {"time": 2, "power_kw": 40.02, "supply_temp_c": 80.8, "return_temp_c": 40.0}),
    ]
    live = overview_of(rows, _FixedFactor(), (None, None, 2), Registry.empty(), 10)
    assert live == summarise(rows, _FixedFactor(), 2, 10)
    assert live.total_heat_load_mw == 0.100032
    assert live.mean_supply_temp_c == 80.8
    assert live.mean_delta_t_k == 40.8
    assert live.emission_rate_kg_per_h == 5.492
    assert live.devices_reporting == 2
