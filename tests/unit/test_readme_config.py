"""The README's configuration table names every setting the processes read (keep the README true)."""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import ApiSettings
from ingest.config import IngestSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_keys() -> set[str]:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_ingest_and_api_setting_has_a_row_in_the_readme_configuration_table() -> None:
    declared = {name.upper() for model in (IngestSettings, ApiSettings) for name in model.model_fields}
    assert declared - documented_keys() == set()


def test_the_readme_configuration_table_names_no_setting_that_does_not_exist() -> None:
    declared = {name.upper() for model in (IngestSettings, ApiSettings) for name in model.model_fields}
    others = {"GRAFANA_URL", "GRAFANA_TOKEN", "GRAFANA_USERNAME", "GRAFANA_PASSWORD"}  # dashboards push
    others |= {"MOSQUITTO_BIN", "INFLUXD_BIN"}  # energy_testing.services
    assert documented_keys() - declared - others == set()
