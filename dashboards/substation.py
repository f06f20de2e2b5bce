"""Substation detail: one district-heating substation, chosen with the ``$site`` variable."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards import datasources, kpis
from dashboards.influxql import InfluxQL
from dashboards.panels import (
    UNIT_DELTA_K,
    UNIT_KW_PER_K,
    UNIT_M3,
    UNIT_M3_PER_MWH,
    UNIT_M3H,
    Target,
    base_dashboard,
    by_range,
    column_overrides,
    influx_tag_variable,
    influx_targets,
    network_variable,
    per_day_panel,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from dashboards.sources import LOCAL_TIME, RAW, RAW_LONG, Source, means_per_interval, trailing

UID = "energy-substation-detail"

SITE = '"site" =~ /^$site$/'
DISTRICT_HEAT = "\"carrier\" = 'district_heat'"
# Beyond two days, "latest" is the latest reading in this window up to the range's end: a cost
# that does not grow with the range (a meter silent for longer shows no value).
LATEST_WINDOW = "2d"


def _means(columns: dict[str, str]) -> Callable[[Source], str]:
    """Means of district-heating fields (alias=field) per interval for the chosen substation."""
    return lambda src: means_per_interval(src, "district_heating", SITE, columns)


def _latest(field: str) -> list[Target]:
    """The latest reading in the range (up to 2 days), or in the 2 days up to its end."""

    def query(src: Source) -> str:
        time = "$timeFilter" if src is RAW else trailing(LATEST_WINDOW)
        return f'SELECT last("{field}") AS "{field}" FROM "district_heating" {src.where(SITE, time=time)}'

    return by_range(query, sources=(RAW, RAW_LONG))


TEMPERATURES = {"supply": "supply_temp_c", "return": "return_temp_c"}


# Interval energy (derived from the meter register by ingest), summed per local day.
def energy_per_day(src: Source) -> str:
    return (
        f'SELECT sum("kwh") AS "district heat" FROM {src.of("energy")} '
        f"{src.where(SITE, DISTRICT_HEAT)} GROUP BY time(1d) fill(none){LOCAL_TIME}"
    )


KPI_NOTE = "From the daily substation KPIs of the analysis: one point per local day, at its midnight."


def _daily(columns: dict[str, str]) -> list[Target]:
    """The chosen substation's daily KPI fields (alias → field)."""
    selected = ", ".join(f'"{field}" AS "{alias}"' for alias, field in columns.items())
    return influx_targets(f"SELECT {selected} FROM {kpis.KPI} WHERE $timeFilter AND {SITE}")


SIGNATURE = (
    'SELECT last("signature_base_kw") AS "base load", last("signature_slope_kw_per_k") AS "heating slope", '
    'last("signature_balance_c") AS "balance temperature", last("signature_r2") AS "r²" '
    f"FROM {kpis.KPI} WHERE $timeFilter AND {SITE}"
)
# Fault findings as annotations: one marker per active day (at its local midnight) with the
# evidence as text and the code and severity as tags (Grafana's InfluxQL annotation columns).
FAULT_ANNOTATIONS = (
    f'SELECT "text", "code", "severity" FROM {kpis.FAULT} WHERE $timeFilter AND {SITE} AND "active" = 1'
)


def fault_annotations() -> list[dict[str, object]]:
    """Dashboard annotation queries (the SDK's annotation model has no InfluxQL query)."""
    return [
        {
            "datasource": {"type": datasources.INFLUX_TYPE, "uid": datasources.INFLUX_UID},
            "enable": True,
            "iconColor": "red",
            "name": "Faults",
            "query": FAULT_ANNOTATIONS,
            "rawQuery": True,
            "textColumn": "text",
            "tagsColumn": "code,severity",
            "titleColumn": "code",
        }
    ]


def build() -> dash.Dashboard:
    """The substation detail dashboard."""
    return (
        base_dashboard(
            UID,
            "Substation detail",
            "One substation's heat meter: power, flow, temperatures, ΔT, daily energy and status.",
            ["operators", "district-heating"],
        )
        .with_variable(network_variable())
        .with_variable(
            influx_tag_variable(
                "site",
                "Substation",
                'SHOW TAG VALUES FROM "district_heating" WITH KEY = "site" WHERE "network" =~ /^$network$/',
            )
        )
        .with_row(row("Latest"))
        .with_panel(stat_panel("Power", "kwatt", _latest("power_kw"), decimals=0))
        .with_panel(stat_panel("Supply", "celsius", _latest("supply_temp_c"), decimals=1))
        .with_panel(stat_panel("Return", "celsius", _latest("return_temp_c"), decimals=1))
        .with_panel(stat_panel("ΔT", UNIT_DELTA_K, _latest("delta_t_k"), decimals=1))
        .with_panel(stat_panel("Energy register", "kwatth", _latest("energy_kwh"), width=12, decimals=0))
        .with_panel(
            stat_panel(
                "Meter info code",
                "short",
                _latest("info_code"),
                description="The heat meter's status word; 0 means no error flags.",
                width=12,
            )
        )
        .with_row(row("Trends"))
        .with_panel(
            timeseries_panel("Power", "kwatt", by_range(_means({"power": "power_kw"}), alias="power"))
        )
        .with_panel(timeseries_panel("Flow", UNIT_M3H, by_range(_means({"flow": "flow_m3h"}), alias="flow")))
        .with_panel(
            timeseries_panel(
                "Supply and return temperature", "celsius", by_range(_means(TEMPERATURES), alias="$col")
            )
        )
        .with_panel(timeseries_panel("ΔT", UNIT_DELTA_K, by_range(_means({"ΔT": "delta_t_k"}))))
        .with_panel(
            per_day_panel("Energy per day", "kwatth", by_range(energy_per_day, alias="district heat"))
        )
        .with_row(row("Daily KPIs and energy signature"))
        .with_panel(
            timeseries_panel(
                "ΔT per day (volume-weighted)",
                UNIT_DELTA_K,
                _daily({"ΔT": "delta_t_k"}),
                description=KPI_NOTE + " heat / (volume · ρc_p).",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Return temperature per day (volume-weighted)",
                "celsius",
                _daily({"return": "return_temp_c"}),
                description=KPI_NOTE,
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Specific flow per day",
                UNIT_M3_PER_MWH,
                _daily({"specific flow": "specific_flow_m3_per_mwh"}),
                description=KPI_NOTE + " volume / (heat / 1000): m³ per MWh.",
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Heat per day against the energy signature",
                "kwatth",
                _daily({"heat": "heat_kwh", "expected by the signature": "signature_expected_kwh"}),
                description=KPI_NOTE + " The signature is fitted over a trailing window of days "
                "(energy_core/signature.py).",
                width=12,
            )
        )
        .with_panel(
            column_overrides(
                table_panel(
                    "Energy signature (latest fit in the range)",
                    "short",
                    influx_targets(InfluxQL(SIGNATURE).table()),
                    description="P(T) = base + slope · max(0, balance − T): daily mean load against "
                    "the day's mean outdoor temperature; r² is the fit quality.",
                    width=6,
                ),
                {
                    "base load": "kwatt",
                    "heating slope": UNIT_KW_PER_K,
                    "balance temperature": "celsius",
                },
            )
        )
        .with_panel(
            timeseries_panel(
                "Excess flow per day",
                UNIT_M3,
                _daily({"excess flow": "excess_flow_m3"}),
                description=KPI_NOTE + " The volume that would not have been pumped at the target ΔT.",
                width=6,
                bars=True,
            )
        )
    )
