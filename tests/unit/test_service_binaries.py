"""Finding mosquitto and influxd: the override variables, PATH, /usr/sbin, and one line when missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from energy_testing import services
from energy_testing.errors import NotInstalled


def executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_binary_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "SBIN_DIRS", ())
    found = (
        services.find_binary("influxd", {"PATH": str(tmp_path)}) if executable(tmp_path, "influxd") else ""
    )
    assert found == str(tmp_path / "influxd")


def test_with_path_stripped_a_missing_influxd_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "SBIN_DIRS", (str(tmp_path / "sbin"),))
    with pytest.raises(NotInstalled) as raised:
        services.find_binary("influxd", {"PATH": str(tmp_path)})
    assert (
        str(raised.value)
        == f"influxd not found (not on PATH nor in {tmp_path / 'sbin'}): apt-get install influxdb"
    )
    assert raised.value.package == "influxdb"
    assert "\n" not in str(raised.value)


def test_the_override_variable_wins_over_path_and_must_exist(tmp_path: Path) -> None:
    other = executable(tmp_path, "my-mosquitto")
    env = {"PATH": os.environ.get("PATH", ""), "MOSQUITTO_BIN": str(other)}
    assert services.find_binary("mosquitto", env) == str(other)
    with pytest.raises(
        NotInstalled,
        match=r"MOSQUITTO_BIN=/nope/mosquitto is not an executable\): apt-get install mosquitto$",
    ):
        services.find_binary("mosquitto", {**env, "MOSQUITTO_BIN": "/nope/mosquitto"})
