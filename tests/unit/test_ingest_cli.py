"""``python -m ingest`` refuses bad configuration with one line naming the key (SPEC §3)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import Reason
from tests.helpers import ROOT


def run_ingest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "MQTT_", "INGEST_", "ASSETS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "ingest"],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "configuration error: INFLUX_URL is required but not set"),
        (
            {"INFLUX_URL": "localhost:8086"},
            "configuration error: INFLUX_URL is invalid: must be an http(s) URL",
        ),
        ({"INFLUX_URL": "http://127.0.0.1:notaport"}, "configuration error: INFLUX_URL is invalid"),
        (
            {"INFLUX_URL": "http://127.0.0.1:8086", "MQTT_URL": "tcp://x"},
            "configuration error: MQTT_URL is invalid",
        ),
        (
            {"INFLUX_URL": "http://127.0.0.1:8086", "INGEST_BATCH_SIZE": "lots"},
            "configuration error: INGEST_BATCH_SIZE is invalid",
        ),
        (
            {"INFLUX_URL": "http://127.0.0.1:8086", "ASSETS_FILE": "/nonexistent/assets.yaml"},
            "configuration error: ASSETS_FILE cannot be read",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(env, expected):
    result = run_ingest(env)
    assert result.returncode == 2
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1, "exactly one line, no traceback"


def run_deadletters(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "MQTT_", "INGEST_", "ASSETS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "ingest", "deadletters", *args],
        env={**clean, "ENERGY_ENV_FILE": "/nonexistent/.env", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dead_letter_dir(tmp_path: Path) -> Path:
    """A data directory whose store holds one JSON letter and one binary (protobuf-like) letter."""
    data_dir = tmp_path / "ingest"
    store = DeadLetterStore(data_dir / "dead_letters.sqlite", max_age_s=100 * 365 * 86400.0)
    received = int(dt.datetime(2026, 1, 15, 11, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    letters = [
        DeadLetter(
            "energy/v1/hm-1", b'{"values":\t{"x": "\xc3\xa5"}}', Reason.UNKNOWN_DEVICE, "no", received
        ),
        DeadLetter("spBv1.0/g/DDATA/e/d", b"\x08\xff\x00\x12", Reason.SPARKPLUG_NO_BIRTH, "birth", received),
    ]
    try:
        asyncio.run(store.add_many(letters))
    finally:
        store.close()
    return data_dir


def test_deadletters_list_refuses_an_unknown_reason_naming_the_valid_ones(tmp_path):
    result = run_deadletters(
        {"INGEST_DATA_DIR": str(dead_letter_dir(tmp_path))}, "list", "--reason", "nonsense"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert "invalid choice: 'nonsense'" in error
    assert all(reason.value in error for reason in Reason)


def test_deadletters_counts_and_list_need_only_the_data_directory(tmp_path):
    env = {"INGEST_DATA_DIR": str(dead_letter_dir(tmp_path))}  # no INFLUX_URL, no MQTT_URL
    counts = run_deadletters(env, "counts")
    assert counts.returncode == 0, counts.stderr
    assert counts.stdout.splitlines() == ["sparkplug_no_birth\t1", "unknown_device\t1"]


def test_deadletters_list_prints_a_header_local_receive_times_and_payloads_as_text_or_hex(tmp_path):
    result = run_deadletters({"INGEST_DATA_DIR": str(dead_letter_dir(tmp_path))}, "list")
    assert result.returncode == 0, result.stderr
    header, json_row, binary_row = result.stdout.splitlines()
    assert header == "id\treceived\tkind\treason\ttopic\tdetail\tpayload"
    assert json_row.split("\t") == [
        "1",
        "2026-01-15T12:30:00.000+01:00",  # Europe/Stockholm, winter
        "message",
        "unknown_device",
        "energy/v1/hm-1",
        "no",
        '{"values":\\t{"x": "å"}}',  # UTF-8 text; the tab escaped so the row stays one row
    ]
    assert binary_row.split("\t")[-1] == "hex:08ff0012"


def test_deadletters_subcommands_and_options_have_help(tmp_path):
    top = run_deadletters({}, "--help")
    listing = run_deadletters({}, "list", "--help")
    assert top.returncode == 0
    for name in ("counts", "list", "replay"):
        assert any(
            line.strip().startswith(name) and len(line.split()) > 1 for line in top.stdout.splitlines()
        )
    assert "--limit LIMIT" in listing.stdout
    assert "letters per page" in listing.stdout
    assert "--reason REASON" in listing.stdout


@pytest.mark.parametrize("action", ["counts", "list", "replay"])
def test_deadletters_refuse_a_data_directory_that_does_not_exist_and_do_not_create_it(tmp_path, action):
    missing = tmp_path / "var" / "ingets"
    env = {"INGEST_DATA_DIR": str(missing), "INFLUX_URL": "http://127.0.0.1:9"}
    result = run_deadletters(env, action)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: INGEST_DATA_DIR={missing} does not exist")
    assert not missing.exists()
    assert not missing.parent.exists()


def test_deadletters_list_in_a_data_directory_without_a_store_shows_no_letters_and_creates_none(tmp_path):
    result = run_deadletters({"INGEST_DATA_DIR": str(tmp_path)}, "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "id\treceived\tkind\treason\ttopic\tdetail\tpayload\n"
    assert list(tmp_path.iterdir()) == []
