"""``python -m api``: configuration mistakes are one line naming the key, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "API_", "ASSETS_", "MQTT_"))}
    clean["ENERGY_ENV_FILE"] = str(tmp_path / "none.env")
    return subprocess.run(
        [sys.executable, "-m", "api"], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({}, "INFLUX_URL"),
        ({"INFLUX_URL": "http://127.0.0.1:9", "API_PORT": "99999"}, "API_PORT"),
        ({"INFLUX_URL": "http://127.0.0.1:9"}, "API_KEYS_FILE"),
        ({"INFLUX_URL": "http://127.0.0.1:9", "API_KEYS_FILE": "/nonexistent/keys.yaml"}, "API_KEYS_FILE"),
    ],
)
def test_config_mistakes_are_one_line_naming_the_key(tmp_path, env, key):
    result = _run(tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]


def test_a_bad_assets_file_is_named(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys: []")
    assets = tmp_path / "assets.yaml"
    assets.write_text("sites: [{id: s, name: S, owner: nobody}]")
    result = _run(tmp_path, INFLUX_URL="http://127.0.0.1:9", API_KEYS_FILE=str(keys), ASSETS_FILE=str(assets))
    assert result.returncode == 2
    assert "ASSETS_FILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
