"""``python -m ingest backfill``: argument and configuration mistakes exit 2 with one line."""

from __future__ import annotations

import pytest
import structlog

from ingest.__main__ import main


@pytest.fixture(autouse=True)
def _influx_env(monkeypatch):
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")  # never contacted: each case fails first
    # main() configures structlog to print to this test's captured stderr, which closes after it.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_a_missing_factors_file_stops_with_one_line_naming_the_key(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("EMISSION_FACTORS_FILE", str(tmp_path / "missing.yaml"))
    assert main(["backfill", "--start", "2025-01-02T00:00:00Z", "--end", "2025-01-03T00:00:00Z"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("configuration error: EMISSION_FACTORS_FILE cannot be read")
    assert "\n" not in err


def test_an_inverted_range_is_refused(capsys):
    assert main(["backfill", "--start", "2025-01-03T00:00:00Z", "--end", "2025-01-02T00:00:00Z"]) == 2
    assert "--end must not be before --start" in capsys.readouterr().err


def test_a_backfill_time_without_an_offset_is_stockholm_local_time():
    from ingest.__main__ import _local_ns

    assert _local_ns("2026-01-15T00:00") == _local_ns("2026-01-14T23:00:00Z")  # CET, +01:00
    assert _local_ns("2026-07-15") == _local_ns("2026-07-14T22:00:00Z")  # CEST, +02:00
