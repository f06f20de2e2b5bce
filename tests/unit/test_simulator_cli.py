"""``python -m simulators``: every option explained, the registry written, reports on request."""

from __future__ import annotations

import orjson
import pytest

from energy_core.registry import Registry
from simulators.__main__ import duration_s, main, parser


def test_help_explains_every_option():
    help_text = parser().format_help()
    for action in parser()._actions:
        assert action.help, action.dest
        for flag in action.option_strings:
            assert flag in help_text


def test_assets_out_writes_a_registry_ingest_loads(tmp_path, capsys):
    path = tmp_path / "deep" / "assets.yaml"
    assert main(["--meters", "12", "--seed", "4", "--assets-out", str(path)]) == 0
    registry = Registry.load(path)
    assert len({d.site for d in registry.devices.values()}) == 13  # 12 buildings and a weather station
    assert f"13 sites (12 buildings, 1 weather station), {len(registry.devices)} devices" in (
        capsys.readouterr().err
    )


def test_dry_run_backfill_writes_a_report_of_what_it_generated(tmp_path, capsys):
    report_path = tmp_path / "report.json"
    argv = ["--sites", "6", "--backfill", "2h", "--step", "5m", "--formats", "native,senml"]
    argv += ["--faults", "duplicate=0.1", "--dry-run", "--report", str(report_path)]
    assert main(argv) == 0
    report = orjson.loads(report_path.read_bytes())
    devices = report["devices"]
    assert report["readings"] == 24 * len(devices)
    assert report["messages"] == report["readings"] + report["faults"].get("duplicate", 0)
    assert sum(report["expected_points"].values()) == report["readings"]
    assert "expected points" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "gremlins=0.1"], "gremlins"),
        (["--formats", "carrier-pigeon"], "unknown format"),
        (["--backfill", "soon"], "not a duration"),
        (["--sites", "0"], "--sites must be at least 1"),
        (["--interval", "0.5", "--dry-run"], "at most once a second"),
    ],
)
def test_bad_options_fail_with_one_line_naming_them(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_durations_accept_the_usual_suffixes():
    assert [duration_s(t) for t in ("30d", "12h", "1m", "45s", "90")] == [2592000, 43200, 60, 45, 90]


@pytest.mark.parametrize("url", ["http://127.0.0.1:1883", "tcp://broker", "127.0.0.1:1883", "mqtt://h:port"])
def test_a_broker_url_that_is_not_mqtt_or_mqtts_is_refused_in_one_line(url, capsys):
    assert main(["--sites", "2", "--dry-run", "--count", "1", "--mqtt-url", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: --mqtt-url (or MQTT_URL)")


def test_the_registry_and_the_live_banner_count_the_same_sites(tmp_path, capsys):
    assert main(["--sites", "60", "--seed", "7", "--assets-out", str(tmp_path / "a.yaml")]) == 0
    assets_line = capsys.readouterr().err
    assert main(["--sites", "60", "--seed", "7", "--dry-run", "--count", "1", "--quiet"]) == 0
    live_line = capsys.readouterr().err.splitlines()[0]
    assert "61 sites (60 buildings, 1 weather station)" in assets_line
    assert live_line.startswith("61 sites (60 buildings, 1 weather station),"), live_line


def test_a_start_time_without_an_offset_is_stockholm_local_time():
    # 2026-01-15 00:00 in Borlänge (CET, UTC+1) is 2026-01-14 23:00 UTC; in June (CEST) UTC+2.
    assert parser().parse_args(["--start", "2026-01-15T00:00"]).start == 1_768_431_600.0
    assert parser().parse_args(["--start", "2026-06-15T00:00"]).start == 1_781_474_400.0
    assert parser().parse_args(["--start", "2026-01-14T23:00Z"]).start == 1_768_431_600.0


def test_a_start_time_that_is_not_iso_8601_is_refused_with_an_example(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--start", "2026-01-15Z"])  # a date with a zone: once read as naive
    assert "is not an ISO 8601 time such as 2026-01-01T00:00Z" in capsys.readouterr().err
