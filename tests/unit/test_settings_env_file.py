"""The env file is resolved when ``load()`` runs, never at import: ``ENERGY_ENV_FILE`` set by a test
(or a supervisor) after the import is the one read, and settings built directly read no env file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from energy_core.settings import InfluxSettings, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_influx_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("INFLUX_URL", "INFLUX_DB", "INFLUX_TOKEN", "INFLUX_USERNAME", "INFLUX_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_load_reads_the_env_file_that_energy_env_file_names_when_load_runs(
    no_influx_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = tmp_path / "test.env"
    env.write_text("INFLUX_URL=http://influx.example:8086\nINFLUX_DB=from_the_env_file\n")
    no_influx_env.setenv("ENERGY_ENV_FILE", str(env))
    settings = load(InfluxSettings)
    assert settings.influx_url == "http://influx.example:8086"
    assert settings.influx_db == "from_the_env_file"


def test_the_environment_still_wins_over_the_env_file(
    no_influx_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = tmp_path / "test.env"
    env.write_text("INFLUX_URL=http://influx.example:8086\nINFLUX_DB=from_the_env_file\n")
    no_influx_env.setenv("ENERGY_ENV_FILE", str(env))
    no_influx_env.setenv("INFLUX_DB", "from_the_environment")
    assert load(InfluxSettings).influx_db == "from_the_environment"


def test_without_energy_env_file_load_reads_dot_env_in_the_working_directory(
    no_influx_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("INFLUX_URL=http://dotenv.example:8086\n")
    no_influx_env.delenv("ENERGY_ENV_FILE", raising=False)
    no_influx_env.chdir(tmp_path)
    assert load(InfluxSettings).influx_url == "http://dotenv.example:8086"


def test_a_settings_object_built_directly_reads_no_env_file(
    no_influx_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As tests build them: a developer's ``.env`` in the working directory must not leak in."""
    (tmp_path / ".env").write_text("INFLUX_DB=leaked_from_dotenv\n")
    no_influx_env.delenv("ENERGY_ENV_FILE", raising=False)
    no_influx_env.chdir(tmp_path)
    assert InfluxSettings(influx_url="http://127.0.0.1:8086").influx_db == "energy"


def test_importing_the_settings_modules_reads_no_env_file(tmp_path: Path) -> None:
    """The module docstring's promise: ENERGY_ENV_FILE at import time is not the one used; the file
    named when ``load()`` runs is (in a fresh interpreter, so nothing was imported before)."""
    at_import, at_load = tmp_path / "at_import.env", tmp_path / "at_load.env"
    at_import.write_text("INFLUX_URL=http://at-import.example:8086\n")
    at_load.write_text("INFLUX_URL=http://at-load.example:8086\n")
    script = textwrap.dedent(
        f"""
        import os
        import api.settings, dashboards.push, energy_core.settings, ingest.config
        os.environ["ENERGY_ENV_FILE"] = {str(at_load)!r}
        from energy_core.settings import InfluxSettings, load
        print(load(InfluxSettings).influx_url)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUX_")}
    env["ENERGY_ENV_FILE"] = str(at_import)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "http://at-load.example:8086"
