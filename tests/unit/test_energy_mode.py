"""``INGEST_ENERGY``: parsing, what ``off`` derives, and the warning for live energy in a shared group."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from energy_core.errors import ConfigError
from energy_core.registry import Registry
from energy_core.schema import Message
from energy_core.settings import load
from ingest.__main__ import main
from ingest.adapters import Router, default_routes
from ingest.config import IngestSettings
from ingest.derive.deriver import HISTORY_FILE, Deriver
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline
from ingest.service import IngestService

NS = 1_000_000_000
T0 = 1_740_000_000


@pytest.fixture
def env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("ENERGY_ENV_FILE", str(tmp_path / "none.env"))
    for key in ("INGEST_ENERGY", "INGEST_SHARED_GROUP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("INGEST_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_ingest_energy_defaults_to_live(env):
    assert load(IngestSettings).ingest_energy == "live"


@pytest.mark.parametrize("value", ["live", "off"])
def test_ingest_energy_accepts_live_and_off(env, value):
    env.setenv("INGEST_ENERGY", value)
    assert load(IngestSettings).ingest_energy == value


@pytest.mark.parametrize("value", ["follow", "", "LIVE ", "on"])
def test_a_bad_ingest_energy_is_one_line_naming_the_key(env, value):
    env.setenv("INGEST_ENERGY", value)
    with pytest.raises(ConfigError) as raised:
        load(IngestSettings)
    assert str(raised.value) == "INGEST_ENERGY is invalid: Input should be 'live' or 'off'"


def run(deriver: Deriver, ts: int, energy: float):
    pipeline = Pipeline(
        Router(default_routes("energy")),
        Normaliser(Registry.empty(), unknown_devices="accept"),
        deriver=deriver,
    )
    values = {"energy": energy, "flow": 3.6, "supply_temp": 85.0, "return_temp": 45.0}
    payload = orjson.dumps({"ts": ts, "values": values})
    return pipeline.process(Message("energy/v1/hm-1", payload, (T0 + 3600) * NS)).points


def test_off_derives_power_but_no_energy_keeps_no_history_and_discards_an_old_one(env, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / HISTORY_FILE).write_bytes(b"left by an earlier live run")
    env.setenv("INGEST_ENERGY", "off")
    with capture_logs() as logs:
        deriver = Deriver.for_settings(load(IngestSettings))
    points = run(deriver, T0, 1000.0) + run(deriver, T0 + 600, 1010.0)
    assert {p.measurement for p in points} == {"district_heating"}
    assert all(p.fields["power_kw"] == pytest.approx(165.485, abs=0.002) for p in points)
    assert deriver.state.histories == {}
    assert deriver.store is None
    assert not (tmp_path / "data" / HISTORY_FILE).exists()
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["energy_history_discarded"]


def test_live_derives_energy(env):
    deriver = Deriver.for_settings(load(IngestSettings))
    points = run(deriver, T0, 1000.0) + run(deriver, T0 + 600, 1010.0)
    assert [p.fields for p in points if p.measurement == "energy"] == [{"kwh": 10.0}]
    deriver.close()


async def test_live_energy_in_a_shared_group_logs_a_loud_warning_at_start(env):
    env.setenv("INGEST_SHARED_GROUP", "ingest")
    with capture_logs() as logs:
        async with IngestService(load(IngestSettings), Registry.empty()):
            pass
    [warning] = [e for e in logs if e["event"] == "energy_live_with_shared_group"]
    assert warning["log_level"] == "warning"
    assert warning["shared_group"] == "ingest"
    assert "INGEST_ENERGY=off" in warning["fix"]


@pytest.mark.parametrize(("group", "energy"), [(None, "live"), ("ingest", "off")])
async def test_no_warning_for_one_live_process_or_an_off_group(env, group, energy):
    if group:
        env.setenv("INGEST_SHARED_GROUP", group)
    env.setenv("INGEST_ENERGY", energy)
    with capture_logs() as logs:
        async with IngestService(load(IngestSettings), Registry.empty()):
            pass
    assert not [e for e in logs if e["event"] == "energy_live_with_shared_group"]


@pytest.mark.parametrize(
    "args", [["--every", "0"], ["--window-minutes", "-5"], ["--chunk-hours", "0"], ["--lookback-days", "-1"]]
)
def test_bad_energy_command_arguments_exit_2_with_one_line(env, capsys, args):
    saved = structlog.get_config()  # main() points structlog at this test's captured stderr
    try:
        assert main(["energy", "--follow", *args]) == 2
    finally:
        structlog.configure(**saved)
    err = capsys.readouterr().err.strip()
    assert err.startswith("energy: --every, --window-minutes and --chunk-hours must be > 0")
    assert "\n" not in err
