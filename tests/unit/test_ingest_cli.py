"""``python -m ingest`` refuses bad configuration with one line naming the key (SPEC §3)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
