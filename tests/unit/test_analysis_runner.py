"""The analysis runner without servers: which days a roll-up round makes due, the bound on the days that
follow a change, the clock, generations, the findings count, its settings, and a store that fails to open."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from energy_core import rollups
from energy_core.errors import StoreError
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.timeutil import HOUR_NS
from ingest.analysis.runner import FOLLOWING_DAYS, AnalysisRunner
from ingest.analysis.substations import findings_by_code
from ingest.config import IngestSettings
from ingest.service import IngestService
from tests.helpers import ROOT

TODAY = dt.date(2026, 11, 20)


class Recorder:
    """A DayAnalyser that records the days it was asked for and writes nothing."""

    name = "substations"
    inputs = frozenset({"district_heating", "weather"})

    def __init__(self) -> None:
        self.calls: list[list[dt.date]] = []
        self.during: list[AnalysisRunner] = []  # runners to mark again while analysing

    async def analyse(self, influx: InfluxClient, days: Sequence[dt.date]) -> list[str]:
        self.calls.append(list(days))
        for runner in self.during:
            await runner.mark([("substations", days[0])])
        return []

    @property
    def days(self) -> list[dt.date]:
        return [d for call in self.calls for d in call]


class Clock:
    def __init__(self, day: dt.date, hour: int = 12) -> None:
        self.now_ns = rollups.local_midnight_ns(day) + hour * HOUR_NS

    def __call__(self) -> int:
        return self.now_ns


def runner_of(analyser: Recorder, clock: Clock, registry: CollectorRegistry | None = None) -> AnalysisRunner:
    influx = InfluxClient("http://127.0.0.1:9", "db")  # never asked: the recorder writes no lines
    return AnalysisRunner(influx, [analyser], registry or CollectorRegistry(), clock_ns=clock)


def hour_of(day: dt.date, hour: int = 3) -> int:
    return rollups.local_midnight_ns(day) + hour * HOUR_NS


async def test_rolled_buckets_of_an_analysers_inputs_mark_their_local_days_before_today_only() -> None:
    runner = runner_of(Recorder(), Clock(TODAY))
    earlier = TODAY - dt.timedelta(days=3)
    await runner.rolled(
        [
            ("district_heating", hour_of(earlier)),
            ("weather", hour_of(earlier - dt.timedelta(days=1), 23)),
            ("electricity", hour_of(earlier - dt.timedelta(days=2))),  # feeds no substation analysis
            ("district_heating", hour_of(TODAY)),  # today: the clock's
        ]
    )
    assert runner.pending == [("substations", earlier - dt.timedelta(days=1)), ("substations", earlier)]


async def test_a_changed_day_re_analyses_the_days_after_it_up_to_a_bound_and_the_clock_adds_today() -> None:
    analyser = Recorder()
    registry = CollectorRegistry()
    runner = runner_of(analyser, Clock(TODAY), registry)
    long_ago = TODAY - dt.timedelta(days=30)
    recent = TODAY - dt.timedelta(days=2)
    await runner.mark([("substations", long_ago), ("substations", recent), ("buildings", recent)])
    assert runner.pending == [("substations", long_ago), ("substations", recent)]  # no such analyser
    assert registry.get_sample_value("ingest_analysis_pending_days") == 2.0
    assert await runner.run_pass(clock=True) is True
    assert registry.get_sample_value("ingest_analysis_pending_days") == 0.0
    following = [long_ago + dt.timedelta(days=k) for k in range(FOLLOWING_DAYS + 1)]
    assert analyser.days == [*following, recent, recent + dt.timedelta(days=1), TODAY]
    assert all(len(call) <= 7 for call in analyser.calls)
    assert runner.pending == []
    assert registry.get_sample_value("ingest_analysis_days_total", {"analyser": "substations"}) == 11.0


async def test_without_the_clock_a_pass_analyses_only_the_changed_days_and_what_follows_them() -> None:
    analyser = Recorder()
    runner = runner_of(analyser, Clock(TODAY))
    assert await runner.run_pass(clock=False) is True
    assert analyser.days == []
    await runner.mark([("substations", TODAY - dt.timedelta(days=1))])
    assert await runner.run_pass(clock=False) is True
    assert analyser.days == [TODAY - dt.timedelta(days=1), TODAY]


async def test_the_first_tick_of_a_new_day_analyses_yesterday_once_more() -> None:
    analyser = Recorder()
    clock = Clock(TODAY, hour=23)
    runner = runner_of(analyser, clock)
    assert await runner.run_pass(clock=True) is True
    clock.now_ns += 2 * HOUR_NS  # 01:00 the next day
    assert await runner.run_pass(clock=True) is True
    assert await runner.run_pass(clock=True) is True
    tomorrow = TODAY + dt.timedelta(days=1)
    assert analyser.calls == [[TODAY], [TODAY, tomorrow], [tomorrow]]


async def test_a_day_marked_again_while_it_is_analysed_stays_pending_for_the_next_pass() -> None:
    analyser = Recorder()
    runner = runner_of(analyser, Clock(TODAY))
    analyser.during.append(runner)
    day = TODAY - dt.timedelta(days=1)
    await runner.mark([("substations", day)])
    assert await runner.run_pass(clock=False) is True
    assert runner.pending == [("substations", day)]
    analyser.during.clear()
    assert await runner.run_pass(clock=False) is True
    assert runner.pending == []


def test_findings_by_code_counts_the_active_findings_of_a_day() -> None:
    day = TODAY
    ts = rollups.local_midnight_ns(day)
    other = rollups.local_midnight_ns(day - dt.timedelta(days=1))
    tags = "network=n1,owner=o1,severity=warning"
    lines = [
        f"substation_kpi,network=n1,owner=o1,site=s1 heat_kwh=1.0 {ts}",
        f'substation_fault,code=low_delta_t,{tags},site=s1 active=1.0,since_s=1.0,text="a b" {ts}',
        f'substation_fault,code=low_delta_t,{tags},site=s2 active=1.0,since_s=1.0,text="c" {ts}',
        f"substation_fault,code=high_return_temp,{tags},site=s3 active=0.0 {ts}",  # cleared
        f'substation_fault,code=frozen_sensor,{tags},site=s3 active=1.0,since_s=1.0,text="d" {other}',
    ]
    assert findings_by_code(lines, day) == {"low_delta_t": 2}
    assert findings_by_code(lines) == {"low_delta_t": 2, "frozen_sensor": 1}


def settings(data_dir: Path, **overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "influx_url": "http://127.0.0.1:9",
        "ingest_data_dir": data_dir,
        "ingest_energy": "live",
        "ingest_shared_group": None,
    }
    values.update(overrides)
    return IngestSettings(_env_file=None, **values)  # type: ignore[call-arg,arg-type]


@pytest.mark.parametrize(
    ("mode", "energy", "runs"),
    [("auto", "live", True), ("auto", "off", False), ("on", "off", True), ("off", "live", False)],
)
async def test_the_service_runs_the_analysis_where_the_roll_ups_are_maintained_unless_told_otherwise(
    tmp_path: Path, mode: str, energy: str, runs: bool
) -> None:
    service = IngestService(settings(tmp_path, ingest_analysis=mode, ingest_energy=energy), Registry.empty())
    async with service:
        assert (service.analysis is not None) is runs
        if runs and service.rollups is not None:
            assert service.rollups.on_rolled == [service.analysis.rolled]  # type: ignore[union-attr]
    assert (tmp_path / "analysis.sqlite").exists() is runs


async def test_an_analysis_store_that_cannot_be_opened_leaves_no_thread_alive(tmp_path: Path) -> None:
    (tmp_path / "analysis.sqlite").mkdir(parents=True)  # a folder where the file should be
    before = set(threading.enumerate())
    with pytest.raises(StoreError) as raised:
        async with IngestService(settings(tmp_path), Registry.empty()):
            pytest.fail("entered a service whose analysis store could not be opened")
    assert raised.value.path == str(tmp_path / "analysis.sqlite")
    assert [t.name for t in threading.enumerate() if t not in before and t.is_alive()] == []


def run_ingest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "MQTT_", "INGEST_", "ASSETS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        env={**clean, "INFLUX_URL": "http://127.0.0.1:9", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ingest_analyse_without_an_assets_file_exits_2_with_one_line_naming_the_key() -> None:
    result = run_ingest("analyse", "--start", "2026-11-01", "--end", "2026-11-02")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: ASSETS_FILE is not set: the analysis reads the registry's heat meters"
    ]


def test_a_bad_analysis_setting_exits_2_with_one_line_naming_the_key() -> None:
    result = run_ingest(INGEST_ANALYSIS="sometimes")
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: INGEST_ANALYSIS is invalid"), result.stderr


async def test_a_day_after_the_clocks_today_is_forgotten_not_analysed_and_not_kept_spinning() -> None:
    analyser = Recorder()
    runner = runner_of(analyser, Clock(TODAY))
    await runner.mark([("substations", TODAY + dt.timedelta(days=2))])
    assert await runner.run_pass(clock=False) is True
    assert analyser.days == []
    assert runner.pending == []


async def test_changed_days_wait_until_a_back_fill_pauses_marking_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from ingest.analysis import runner as runner_module

    monkeypatch.setattr(runner_module, "SETTLE_S", 0.0)  # each settle step is one turn of the loop
    runner = runner_of(Recorder(), Clock(TODAY))
    marked: list[dt.date] = []

    async def back_fill() -> None:
        for k in range(5, 0, -1):
            day = TODAY - dt.timedelta(days=k)
            await runner.mark([("substations", day)])
            marked.append(day)
            await asyncio.sleep(0)

    await runner.mark([("substations", TODAY - dt.timedelta(days=9))])
    rolling = asyncio.create_task(back_fill())
    await runner._settle()
    assert len(marked) == 5, "settled only once the marks paused"
    await rolling
