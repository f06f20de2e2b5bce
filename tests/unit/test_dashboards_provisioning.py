"""Provisioning files, Grafana template expansion, and the payloads `push` sends."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.__main__ import main
from dashboards.build import JSON_DIR, load_committed
from dashboards.datasources import INFLUX_UID, PROVISIONED_UIDS
from dashboards.expand import ALL, TimeRange, expand, interval_for, regex_value
from dashboards.push import GrafanaSettings, dashboard_payload, folder_payload
from energy_core.errors import ConfigError
from energy_core.settings import load

PROVISIONING = Path(__file__).resolve().parents[2] / "dashboards" / "provisioning"
ENV_ONLY = re.compile(r"^(Token )?\$\{[A-Z_]+\}$")


def _datasources(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    datasources: list[dict[str, Any]] = document["datasources"]
    return datasources


def test_provisioned_datasources_are_the_ones_panels_reference() -> None:
    provisioned = {
        ds["uid"]: ds["type"]
        for path in sorted((PROVISIONING / "datasources").glob("*.yaml"))
        for ds in _datasources(path)
    }
    assert provisioned == PROVISIONED_UIDS


@pytest.mark.parametrize("path", ["datasources/influxdb.yaml", "variants/influxdb-token.yaml"])
def test_influx_datasource_takes_everything_from_the_environment(path: str) -> None:
    (datasource,) = _datasources(PROVISIONING / path)
    assert datasource["uid"] == INFLUX_UID
    assert datasource["jsonData"]["version"] == "InfluxQL"
    assert datasource["url"] == "${INFLUX_URL}"
    assert datasource["jsonData"]["dbName"] == "${INFLUX_DB}"
    secrets = datasource["secureJsonData"]
    assert secrets
    assert all(ENV_ONLY.match(value) for value in secrets.values()), secrets


def test_token_variant_sends_the_authorization_header() -> None:
    (datasource,) = _datasources(PROVISIONING / "variants" / "influxdb-token.yaml")
    assert datasource["jsonData"]["httpHeaderName1"] == "Authorization"
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"


def test_dashboard_provider_points_at_a_folder_of_the_generated_json() -> None:
    document = yaml.safe_load((PROVISIONING / "dashboards" / "provider.yaml").read_text(encoding="utf-8"))
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/var/lib/grafana/dashboards")
    assert list(JSON_DIR.glob("*.json"))


RANGE = TimeRange(1_705_276_800_000, 1_705_449_600_000)


def test_time_filter_and_interval_expand_like_grafana() -> None:
    query = 'SELECT mean("power_kw") FROM "district_heating" WHERE $timeFilter GROUP BY time($__interval)'
    assert expand(query, RANGE, {}) == (
        'SELECT mean("power_kw") FROM "district_heating" '
        "WHERE time >= 1705276800000ms and time <= 1705449600000ms GROUP BY time(2m)"
    )


@pytest.mark.parametrize(
    ("span_ms", "interval"),
    [
        (3_600_000, "10s"),
        (6 * 3_600_000, "20s"),
        (86_400_000, "1m"),
        (7 * 86_400_000, "10m"),
        (365 * 86_400_000, "8h"),
    ],
)
def test_interval_rounds_to_grafanas_steps_with_the_datasource_minimum(span_ms: int, interval: str) -> None:
    assert interval_for(0, span_ms) == interval


def test_variables_are_regex_escaped_and_joined() -> None:
    assert regex_value(["sub-norr"], ".*") == "sub-norr"
    assert regex_value(["a.b", "c/d"], ".*") == r"(a\.b|c\/d)"
    assert regex_value([ALL], ".*") == ".*"
    assert expand('"site" =~ /^$site$/ AND "o" =~ /^${owner}$/', RANGE, {"site": "x", "owner": "y"}) == (
        '"site" =~ /^x$/ AND "o" =~ /^y$/'
    )


def test_an_unknown_variable_fails_the_expansion() -> None:
    with pytest.raises(KeyError, match=r"\$sitee"):
        expand('WHERE "site" =~ /^$sitee$/', RANGE, {"site": "x"})


def test_push_payload_overwrites_by_uid_in_the_folder() -> None:
    document = load_committed()["emissions"]
    payload = dashboard_payload(document, "borlange-energy", "ci")
    assert payload["folderUid"] == "borlange-energy"
    assert payload["overwrite"] is True
    assert payload["message"] == "ci"
    assert payload["dashboard"]["id"] is None
    assert payload["dashboard"]["uid"] == document["uid"] == "energy-emissions"
    assert payload["dashboard"]["panels"] == document["panels"]


def test_push_uses_a_token_or_else_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_URL", "http://grafana:3000")
    monkeypatch.setenv("GRAFANA_USERNAME", "admin")
    monkeypatch.setenv("GRAFANA_PASSWORD", "s3cret")
    settings = load(GrafanaSettings)
    assert settings.credential() == ("admin", "s3cret")
    assert folder_payload(settings) == {"title": "Borlänge energy", "uid": "borlange-energy"}
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_abc")
    assert load(GrafanaSettings).credential() == "glsa_abc"


def test_push_without_credentials_names_the_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_URL", "http://grafana:3000")
    for key in ("GRAFANA_TOKEN", "GRAFANA_USERNAME", "GRAFANA_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="GRAFANA_TOKEN, or GRAFANA_USERNAME and GRAFANA_PASSWORD"):
        load(GrafanaSettings)


def test_push_command_without_url_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    assert main(["push"]) == 2
    assert capsys.readouterr().err == "configuration error: GRAFANA_URL is required but not set\n"


@pytest.mark.parametrize("url", ["grafana:3000", "ftp://grafana", "http://grafana:port"])
def test_push_with_a_malformed_grafana_url_exits_2_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    monkeypatch.setenv("GRAFANA_URL", url)
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_abc")
    assert main(["push"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: GRAFANA_URL is invalid"), err
    assert err.count("\n") == 1


def test_push_to_an_unreachable_grafana_exits_1_with_one_line_naming_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:  # bound, never listening: connecting is refused at once
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setenv("GRAFANA_URL", url)
        monkeypatch.setenv("GRAFANA_TOKEN", "glsa_abc")
        assert main(["push"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot push to GRAFANA_URL={url}: "), err
    assert err.count("\n") == 1
    assert "Traceback" not in err
