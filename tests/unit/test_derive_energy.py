"""Interval energy from registers: hand-computed cases and order-independence properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.derive.energy import EnergyState, Interval, interval_kwh

S = "hm-1\x1fdistrict_heat"
MIN = 60 * 1_000_000_000


def stored(state: EnergyState, deliveries: list[tuple[int, float]]) -> dict[int, float]:
    """What InfluxDB ends up holding: the last value written per timestamp of the series."""
    table: dict[int, float] = {}
    for ts, kwh in deliveries:
        for interval in state.observe(S, ts, kwh):
            table[interval.end_ns] = interval.kwh
    return table


def test_a_growing_register_gives_its_differences_stamped_at_the_later_reading():
    state = EnergyState()
    assert state.observe(S, 0, 1000.0) == []  # the first reading has no interval yet
    assert state.observe(S, 10 * MIN, 1012.5) == [Interval(S, 0, 10 * MIN, 12.5)]
    assert state.observe(S, 20 * MIN, 1020.0) == [Interval(S, 10 * MIN, 20 * MIN, 7.5)]


def test_a_counter_reset_counts_the_new_register_from_zero():
    # 100 → 150: 50 kWh; reset, counter reads 3 ten minutes later: 3 kWh used since 0; then 3 → 10: 7.
    readings = [(0, 100.0), (10 * MIN, 150.0), (20 * MIN, 3.0), (30 * MIN, 10.0)]
    assert stored(EnergyState(), readings) == {10 * MIN: 50.0, 20 * MIN: 3.0, 30 * MIN: 7.0}


def test_a_meter_swap_never_gives_negative_energy():
    # Old meter at 54,000 kWh replaced by a new one that has counted 12 kWh since fitting: 12 kWh.
    assert stored(EnergyState(), [(0, 54_000.0), (15 * MIN, 12.0), (30 * MIN, 20.0)]) == {
        15 * MIN: 12.0,
        30 * MIN: 8.0,
    }
    # A used meter fitted at 30,000 kWh did not start at zero: the interval is unknown and 0, not −24,000.
    assert stored(EnergyState(), [(0, 54_000.0), (15 * MIN, 30_000.0), (30 * MIN, 30_004.0)]) == {
        15 * MIN: 0.0,
        30 * MIN: 4.0,
    }
    assert interval_kwh(54_000.0, 30_000.0) == 0.0


def test_an_out_of_order_batch_rewrites_the_interval_of_the_reading_after_the_late_one():
    # Truth: t=0 → 0, t=10 → 5, t=20 → 12, t=30 → 20 kWh. Delivered 30, 0, 20, 10.
    state = EnergyState()
    assert state.observe(S, 30 * MIN, 20.0) == []
    assert state.observe(S, 0, 0.0) == [Interval(S, 0, 30 * MIN, 20.0)]
    assert state.observe(S, 20 * MIN, 12.0) == [
        Interval(S, 0, 20 * MIN, 12.0),
        Interval(S, 20 * MIN, 30 * MIN, 8.0),  # rewrites the 20 kWh written for t=30
    ]
    assert state.observe(S, 10 * MIN, 5.0) == [
        Interval(S, 0, 10 * MIN, 5.0),
        Interval(S, 10 * MIN, 20 * MIN, 7.0),
    ]


def test_a_duplicate_re_emits_the_same_intervals_so_redelivery_is_idempotent():
    state = EnergyState()
    first = stored(state, [(0, 0.0), (10 * MIN, 5.0), (20 * MIN, 12.0)])
    again = state.observe(S, 10 * MIN, 5.0)
    assert {i.end_ns: i.kwh for i in again} == {10 * MIN: 5.0, 20 * MIN: 7.0}
    assert all(first[i.end_ns] == i.kwh for i in again)


def test_a_gap_gives_one_interval_with_all_the_energy_of_the_gap():
    assert stored(EnergyState(), [(0, 100.0), (3 * 24 * 60 * MIN, 900.0)]) == {3 * 24 * 60 * MIN: 800.0}


def test_the_history_is_bounded_and_keeps_the_floor_as_the_predecessor_of_late_readings():
    state = EnergyState(max_readings=3)
    stored(state, [(i * MIN, float(i)) for i in range(10)])
    history = state.histories[S]
    assert list(history.ts_ns) == [6 * MIN, 7 * MIN, 8 * MIN, 9 * MIN]  # the floor and three readings
    assert history.floored
    assert state.observe(S, 2 * MIN, 2.0) == []  # before the floor: cannot be placed
    assert state.too_late == 1


def test_readings_older_than_max_age_behind_the_newest_leave_the_history():
    state = EnergyState(max_age_ns=60 * MIN)
    stored(state, [(0, 0.0), (30 * MIN, 1.0), (200 * MIN, 2.0)])
    assert list(state.histories[S].ts_ns) == [30 * MIN, 200 * MIN]  # 0 dropped, 30 min kept as floor


def test_same_timestamp_with_two_values_keeps_the_larger_whatever_the_order():
    a = stored(EnergyState(), [(0, 0.0), (10 * MIN, 5.0), (10 * MIN, 6.0), (20 * MIN, 9.0)])
    b = stored(EnergyState(), [(20 * MIN, 9.0), (10 * MIN, 6.0), (0, 0.0), (10 * MIN, 5.0)])
    assert a == b == {10 * MIN: 6.0, 20 * MIN: 3.0}


@st.composite
def growing_meter_deliveries(draw: st.DrawFn) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """A growing meter's readings in time order, and a delivery: shuffled, some duplicated."""
    n = draw(st.integers(min_value=2, max_value=40))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=10**12), min_size=n, max_size=n))
    steps = draw(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=n, max_size=n))
    start = draw(st.floats(min_value=0, max_value=1e8, allow_nan=False))
    readings: list[tuple[int, float]] = []
    ts, kwh = 0, start
    for gap, step in zip(gaps, steps, strict=True):
        ts += gap
        kwh += step
        readings.append((ts, kwh))
    extra = draw(st.lists(st.sampled_from(readings), max_size=n))
    delivery = draw(st.permutations(readings + extra))
    return readings, delivery


@settings(max_examples=200, deadline=None)
@given(growing_meter_deliveries())
def test_for_a_growing_meter_the_sum_of_intervals_is_last_minus_first_in_any_delivery_order(case):
    readings, delivery = case
    table = stored(EnergyState(), delivery)
    assert set(table) == {ts for ts, _ in readings[1:]}
    total = sum(table.values())
    expected = readings[-1][1] - readings[0][1]
    assert abs(total - expected) <= 1e-9 * max(1.0, readings[-1][1]) * len(readings)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=50), st.floats(min_value=0, max_value=1e6)),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_any_register_sequence_stores_the_same_result_in_any_order(readings, rnd):
    """Resets, swaps and same-timestamp conflicts included: the stored result depends on the set only."""
    in_order = stored(EnergyState(), sorted(readings))
    shuffled = readings + readings[: len(readings) // 2]
    rnd.shuffle(shuffled)
    assert stored(EnergyState(), shuffled) == in_order
