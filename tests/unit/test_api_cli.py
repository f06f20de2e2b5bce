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


def _keys_add(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUX_", "API_", "ASSETS_", "MQTT_"))}
    clean["ENERGY_ENV_FILE"] = str(tmp_path / "none.env")
    out = str(tmp_path / "keys.yaml")
    return subprocess.run(
        [sys.executable, "-m", "api", "keys", "add", "--out", out, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("scope", ["admin", "owner:", "Operator", "owner:-x"])
def test_keys_add_refuses_a_scope_that_is_not_one_in_one_line_naming_the_valid_scopes(tmp_path, scope):
    result = _keys_add(tmp_path, "--name", "x", "--scope", scope)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "valid scopes are operator and owner:<owner id>" in lines[0]
    assert "validation error" not in lines[0]
    assert not (tmp_path / "keys.yaml").exists()


def test_keys_add_refuses_an_owner_the_registry_does_not_know_naming_the_known_owners(tmp_path):
    assets = tmp_path / "assets.yaml"
    assets.write_text(
        "owners: [{id: tunabyggen, name: Tunabyggen}, {id: kommunen, name: Kommunen}]\nsites: []\n"
    )
    typo = _keys_add(tmp_path, "--name", "fm", "--scope", "owner:tunabygen", ASSETS_FILE=str(assets))
    right = _keys_add(tmp_path, "--name", "fm", "--scope", "owner:tunabyggen", ASSETS_FILE=str(assets))
    assert typo.returncode == 2
    lines = typo.stderr.strip().splitlines()
    assert len(lines) == 1, typo.stderr
    assert "no owner 'tunabygen'" in lines[0]
    assert "known owners: kommunen, tunabyggen" in lines[0]
    assert right.returncode == 0, right.stderr
    assert "owner:tunabyggen" in (tmp_path / "keys.yaml").read_text()
