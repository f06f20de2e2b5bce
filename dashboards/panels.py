"""Panel and variable factories shared by the dashboards, so every panel gets a datasource,
a unit and a size the same way.

Grafana unit ids: ``megwatt``, ``kwatt``, ``kwatth``, ``celsius``, ``masskg``, ``ppm``,
``humidity``, ``s``, ``bytes``, ``cps``; units Grafana lacks (m³/h, ΔT in K, kg/h, g/kWh) use
its ``suffix:`` custom-unit syntax.
"""

from __future__ import annotations

from typing import TypeVar

from grafana_foundation_sdk.builders import bargauge, histogram, stat, table, text, timeseries, xychart
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DynamicConfigValue,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.text import TextMode

from dashboards import datasources
from dashboards.influxql import InfluxQL
from dashboards.sources import BY_RANGE, Query, Source, per_source

Target = cogbuilder.Builder[cogvariants.Dataquery]

UNIT_M3H = "suffix: m³/h"
UNIT_DELTA_K = "suffix: K"
UNIT_KG_PER_H = "suffix: kg/h"
UNIT_G_PER_KWH = "suffix: g/kWh"

LOCAL_DAYS = "Local days (Europe/Stockholm), as the API's."


def influx_targets(*queries: str | InfluxQL) -> list[Target]:
    """InfluxQL targets with refIds A, B, …; a plain string becomes a time-series query."""
    targets: list[Target] = []
    for index, query in enumerate(queries):
        target = query if isinstance(query, InfluxQL) else InfluxQL(query)
        targets.append(target.ref_id(chr(ord("A") + index)))
    return targets


def by_range(
    query: Query, *, alias: str | None = None, table: bool = False, sources: tuple[Source, ...] = BY_RANGE
) -> list[Target]:
    """One target per source (dashboards/sources.py), each answering only for its lengths of range."""
    targets = []
    for written in per_source(query, sources):
        target = InfluxQL(written)
        if alias is not None:
            target = target.alias(alias)
        if table:
            target = target.table()
        targets.append(target)
    return influx_targets(*targets)


def promql(expr: str, legend: str, ref_id: str = "A") -> prom.Dataquery:
    """A range PromQL target on the provisioned Prometheus datasource."""
    return (
        prom.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .range()
        .ref_id(ref_id)
        .datasource(datasources.prometheus())
    )


def _datasource_of(targets: list[Target]) -> DataSourceRef:
    return datasources.prometheus() if isinstance(targets[0], prom.Dataquery) else datasources.influx()


DataPanel = TypeVar(
    "DataPanel", timeseries.Panel, stat.Panel, bargauge.Panel, table.Panel, histogram.Panel, xychart.Panel
)


def _data_panel(
    panel: DataPanel, title: str, unit: str, targets: list[Target], description: str, width: int, height: int
) -> DataPanel:
    """What every data panel sets the same way: title, description, unit, datasource, size."""
    return (
        panel.title(title)
        .description(description)
        .unit(unit)
        .datasource(_datasource_of(targets))
        .targets(targets)
        .span(width)
        .height(height)
    )


def timeseries_panel(
    title: str,
    unit: str,
    targets: list[Target],
    *,
    description: str = "",
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    stacked: bool = False,
) -> timeseries.Panel:
    """A time-series panel; ``bars`` for per-day/-hour totals, ``stacked`` to add carriers up."""
    panel = (
        _data_panel(timeseries.Panel(), title, unit, targets, description, width, height)
        .fill_opacity(60 if bars else 10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE if stacked else common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["sum"] if bars else ["mean", "lastNotNull"])
        )
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def per_day_panel(
    title: str, unit: str, targets: list[Target], *, stacked: bool = False, width: int = 24
) -> timeseries.Panel:
    """Bars of totals per local day (Europe/Stockholm, as the API's), full width by default."""
    return timeseries_panel(
        title, unit, targets, description=LOCAL_DAYS, bars=True, stacked=stacked, width=width
    )


def stat_panel(
    title: str,
    unit: str,
    targets: list[Target],
    *,
    description: str = "",
    width: int = 6,
    height: int = 5,
    reducer: str = "lastNotNull",
    decimals: int | None = None,
    no_value: str | None = None,
) -> stat.Panel:
    """A big-number panel of one reduction (default: the latest value) of its series.

    ``no_value`` is shown instead of "No data" (e.g. "0" for a count InfluxDB answers with null).
    """
    panel = (
        _data_panel(stat.Panel(), title, unit, targets, description, width, height)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs([reducer]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel


def bargauge_panel(
    title: str, unit: str, targets: list[Target], *, description: str = "", width: int = 12, height: int = 8
) -> bargauge.Panel:
    """Horizontal bars, one per series (e.g. per site), ranked by the latest value."""
    return (
        _data_panel(bargauge.Panel(), title, unit, targets, description, width, height)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(
    title: str,
    unit: str,
    targets: list[Target],
    *,
    description: str = "",
    width: int = 12,
    height: int = 8,
    time_from_now: bool = False,
    sort_by_time: bool = False,
) -> table.Panel:
    """A table of rows; ``time_from_now`` shows the Time column as "3 minutes ago" (freshness),
    ``sort_by_time`` sorts rows oldest first (InfluxQL cannot order across series)."""
    panel = _data_panel(table.Panel(), title, unit, targets, description, width, height)
    if time_from_now:
        panel = panel.override_by_name("Time", [DynamicConfigValue(id_val="unit", value="dateTimeFromNow")])
    if sort_by_time:
        panel = panel.sort_by([common_builders.TableSortByFieldState().display_name("Time").desc(False)])
    return panel


def text_panel(title: str, markdown: str, *, width: int = 24, height: int = 3) -> text.Panel:
    """A note for operators; it has no query."""
    return text.Panel().title(title).content(markdown).mode(TextMode.MARKDOWN).span(width).height(height)


def row(title: str) -> dash.Row:
    return dash.Row(title)


def _query_variable(
    name: str, label: str, query: str, datasource: DataSourceRef, *, include_all: bool, multi: bool
) -> dash.QueryVariable:
    """A variable refreshed with the time range, sorted; "All" is ``.*`` so panels can always
    filter with ``=~ /^$name$/``."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(datasource)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        variable = variable.all_value(".*").current(VariableOption(text="All", value="$__all"))
    return variable


def influx_tag_variable(
    name: str,
    label: str,
    query: str,
    *,
    include_all: bool = False,
    multi: bool = False,
) -> dash.QueryVariable:
    """A variable filled from ``SHOW TAG VALUES …`` on the InfluxQL datasource."""
    return _query_variable(name, label, query, datasources.influx(), include_all=include_all, multi=multi)


def network_variable(*, multi: bool = False) -> dash.QueryVariable:
    """``$network``: the district-heating networks, "All" by default."""
    return influx_tag_variable(
        "network",
        "Network",
        'SHOW TAG VALUES FROM "district_heating" WITH KEY = "network"',
        include_all=True,
        multi=multi,
    )


def prometheus_label_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    """A multi-valued variable from ``label_values(…)`` on the Prometheus datasource, default All."""
    return _query_variable(name, label, query, datasources.prometheus(), include_all=True, multi=True)


def base_dashboard(uid: str, title: str, description: str, tags: list[str]) -> dash.Dashboard:
    """Common settings: browser time zone, last 24 h by default, 1-minute refresh, shared crosshair."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["borlange-energy", *tags])
        .timezone("browser")
        .time("now-24h", "now")
        .refresh("1m")
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )


UNIT_M3 = "suffix: m³"
UNIT_M3_PER_MWH = "suffix: m³/MWh"
UNIT_KWH_PER_M2 = "suffix: kWh/m²"
UNIT_KW_PER_K = "suffix: kW/K"


def histogram_panel(
    title: str,
    unit: str,
    targets: list[Target],
    *,
    bucket_size: int,
    description: str = "",
    width: int = 12,
    height: int = 8,
) -> histogram.Panel:
    """How many series (e.g. substations) fall into each bucket of their value; one value per
    series (table rows), combined across series."""
    return (
        _data_panel(histogram.Panel(), title, unit, targets, description, width, height)
        .bucket_size(bucket_size)
        .combine(True)
        .fill_opacity(80)
    )


def xy_panel(
    title: str, unit: str, targets: list[Target], *, description: str = "", width: int = 12, height: int = 8
) -> xychart.Panel:
    """A scatter of table rows: the first numeric column on x, the others on y."""
    return _data_panel(xychart.Panel(), title, unit, targets, description, width, height)


def column_overrides(
    panel: DataPanel, units: dict[str, str], links: dict[str, tuple[str, str]] | None = None
) -> DataPanel:
    """Per-column units of a table, and data links (column → (title, url))."""
    for column, unit in units.items():
        panel = panel.override_by_name(column, [DynamicConfigValue(id_val="unit", value=unit)])
    for column, (link_title, url) in (links or {}).items():
        panel = panel.override_by_name(
            column, [DynamicConfigValue(id_val="links", value=[{"title": link_title, "url": url}])]
        )
    return panel


def sorted_by(panel: table.Panel, column: str, *, desc: bool) -> table.Panel:
    return panel.sort_by([common_builders.TableSortByFieldState().display_name(column).desc(desc)])


def influx_variable(
    name: str, label: str, query: str, *, include_all: bool = True, multi: bool = True
) -> dash.QueryVariable:
    """A variable on the InfluxQL datasource, multi-valued with "All" by default."""
    return influx_tag_variable(name, label, query, include_all=include_all, multi=multi)
