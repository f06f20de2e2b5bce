"""``python -m ingest import``: a refused mapping or file is one line and exit 2, a dry run reads and
checks everything and writes nothing (no InfluxDB needed, no data directory created), the progress line."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.__main__ import main
from ingest.importer.runner import ImportReport, RowProgress


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_import(tmp_path: Path, *args: str) -> Result:
    """``python -m ingest import …`` in this process (main(), as the console runs it)."""
    env = {
        "ENERGY_ENV_FILE": "/nonexistent/.env",
        "INFLUX_URL": "http://127.0.0.1:9",  # nothing listens: a dry run must not need it
        "INGEST_DATA_DIR": str(tmp_path / "data"),
        "INGEST_UNKNOWN_DEVICES": "accept",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("INFLUX_", "MQTT_", "INGEST_", "ASSETS_"))]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--log-level", "WARNING", "import", *args])
    return Result(code, out.getvalue(), err.getvalue())


def test_a_mapping_file_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_import(tmp_path, "x.csv", "--mapping", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: --mapping cannot be read"), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_file_with_a_wrong_header_is_refused_in_one_line_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("device;ts;energy[kWh];colour\nhm-1;2025-01-01T00:00Z;1;red\n", encoding="utf-8")
    result = run_import(tmp_path, str(path), "--dry-run")
    assert result.returncode == 2
    assert "column 'colour' is not device, ts or a quantity" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_a_dry_run_counts_points_and_dead_letters_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "device;ts;energy[MWh];supply_temp\n"
        "hm-1;2026-01-01 00:15;1,5;70\n"
        "hm-1;2026-10-25 02:30;1,6;70\n"  # the repeated hour
        "hm-1;2026-01-01 00:45;1,7;0,0\n",  # energy stored, the broken sensor's 0.00 °C refused
        encoding="utf-8",
    )
    result = run_import(tmp_path, str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("import (dry run: nothing written): 1 file(s), 3 rows read, 2 points to write")
    assert "2 dead-lettered (implausible_value 1, schema 1)" in summary
    assert not (tmp_path / "data").exists()


def test_the_progress_line_shows_the_share_read_rows_and_rate() -> None:
    progress = RowProgress(1000, io.StringIO(), enabled=True)
    line = progress.line(250, 12_345, "a.csv")
    assert line.startswith("\r[#######.......................]  25%  12,345 rows")
    assert line.rstrip().endswith("rows/s  a.csv")


def test_the_summary_names_every_reason_and_the_phases() -> None:
    report = ImportReport(files=2, rows=10, points=8, seconds=2.0, raw_seconds=1.0)
    report.dead.update({"schema": 1, "unknown_device": 1})
    text = report.summary(dry_run=False, rollups=False)
    assert "10 rows read, 8 points written, 2 dead-lettered (schema 1, unknown_device 1)" in text
    assert "roll-ups not rebuilt (INGEST_ROLLUP=off)" in text
    assert text.endswith("2.0 s, 5 rows/s (rows 1.0 s, energy 0.0 s, roll-ups 0.0 s)")


def test_influxdb_unreachable_exits_1_saying_to_run_the_same_import_again(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("device,ts,energy\nhm-1,2026-01-01T00:15Z,1.5\n", encoding="utf-8")
    result = run_import(tmp_path, str(path))  # INFLUX_URL: a port nothing listens on
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("import: InfluxDB failed after 1 rows (1 points)")
    assert last.endswith("run the same import again (it is idempotent)")
