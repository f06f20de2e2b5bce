"""Monthly reports per owner and per building (issue 16): energy, normalised energy, kWh/m² Atemp,
emissions, the worst buildings and indoor comfort of one Europe/Stockholm local month, as JSON,
CSV (``standard`` or Swedish Excel, api/csvexport.py) or a print-ready HTML page (A4, inline SVG
charts, no script, nothing loaded from elsewhere).

The month's figures are the same arithmetic as the performance endpoints (api/performance.py)
over the month's daily ``building_kpi`` points; emissions are the API's emission reads
(api/energy.py) for the month. Every text that comes from the registry is escaped
(``html.escape``) before it reaches the page.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from api import energy, performance
from api.errors import bad_request
from api.influxql import tag_equals
from api.models import EmissionsBucket, PeriodKpis, ReportBuilding, ReportDay, ReportFactor, ReportOut
from api.performance import SUMMED, Period, Sums, kpis
from api.precision import rounded
from api.readings import site_condition
from api.sources import SourcePolicy
from api.timerange import TimeRange, now_ns
from energy_core import rollups
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import Owner, Site
from energy_core.timeutil import STOCKHOLM

WORST = 5  # buildings named as the worst of the month
CHART_BUILDINGS = 10  # buildings in the actual-vs-normalised chart
MONTH_PATTERN = r"^[0-9]{4}-[0-9]{2}$"
_MONTH = re.compile(MONTH_PATTERN)


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str, today: dt.date) -> Month:
        """``YYYY-MM``; a 400 for a month that does not exist or has not begun."""
        if not _MONTH.fullmatch(text):
            raise bad_request("bad_month", f"month must look like 2026-01, not {text[:20]!r}")
        year, month = int(text[:4]), int(text[5:])
        if not 1 <= month <= 12 or not 2000 <= year <= 2100:
            raise bad_request("bad_month", f"no month {text!r}: months are 01–12 of the years 2000–2100")
        found = cls(year, month)
        if found.period.start > today:
            raise bad_request("month_in_future", f"{text} has not begun (today is {today.isoformat()})")
        return found

    @property
    def period(self) -> Period:
        after = dt.date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        return Period(dt.date(self.year, self.month, 1), after)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def today() -> dt.date:
    return dt.datetime.fromtimestamp(now_ns() / 1e9, STOCKHOLM).date()


def _day_sums(row: dict[str, object]) -> Sums:
    """A daily point as a one-day :class:`Sums` (a day counts when it holds heat_kwh)."""
    sums = Sums.of_row({**row, "days": None})
    return Sums(1 if row.get("heat_kwh") is not None else 0, *(getattr(sums, f) for f in SUMMED))


async def build(
    influx: InfluxClient,
    policy: SourcePolicy,
    owner: Owner,
    sites: Sequence[Site],
    month: Month,
    factors: EmissionFactors,
    site: Site | None = None,
) -> ReportOut:
    """The report of ``sites`` (the owner's, or ``site`` alone) for ``month``; ``factors`` say
    which factor (and whether a placeholder) stands behind each building's emissions."""
    period = month.period
    condition = site_condition(site) if site else tag_equals("owner", owner.id)
    rows = await performance.daily_rows(influx, condition, period, SUMMED)
    window = TimeRange(period.start_ns, min(period.end_ns, max(now_ns(), period.start_ns + 1)))
    co2 = await energy.emissions_by_site(influx, policy, condition, window)

    per_site: dict[str, Sums] = {}
    per_day: dict[dt.date, list[float]] = defaultdict(lambda: [0.0, 0.0])
    known = {s.id for s in sites}  # a site gone from the registry is in no figure of the report
    for site_id, site_rows in rows.items():
        if site_id not in known:
            continue
        for row in site_rows:
            day = _day_sums(row)
            per_site[site_id] = per_site.get(site_id, Sums()) + day
            date = rollups.local_day_of(int(str(row["time"])))
            per_day[date][0] += day.heat_kwh
            per_day[date][1] += day.electricity_kwh

    def kg(site_id: str, method: str) -> float | None:
        found = [v for (s, _, m), v in co2.items() if s == site_id and m == method]
        return rounded("co2e_kg", sum(found)) if found else None

    notes = _factor_notes(sites, co2, factors, period)
    placeholder_sites = {s for (s, c, m) in co2 if notes.get((s, c, m)) and notes[(s, c, m)].placeholder}
    buildings = [
        ReportBuilding(
            site=s.id,
            name=s.name,
            floor_area_m2=s.floor_area_m2,
            kpis=kpis(period, per_site.get(s.id, Sums()), s.floor_area_m2),
            co2e_kg_location=kg(s.id, "location"),
            co2e_kg_market=kg(s.id, "market"),
            placeholder=s.id in placeholder_sites,
        )
        for s in sites
    ]
    unique = {(n.carrier, n.area, n.method): n for n in notes.values()}
    used = [unique[key] for key in sorted(unique)]
    by_carrier: dict[tuple[str, str], float] = defaultdict(float)
    for (site_id, carrier, method), value in co2.items():
        if site_id in known:
            by_carrier[(carrier, method)] += value
    start = dt.datetime(period.start.year, period.start.month, 1, tzinfo=STOCKHOLM)
    emissions = [
        EmissionsBucket(start=start, carrier=c, method=m, co2e_kg=rounded("co2e_kg", v))
        for (c, m), v in sorted(by_carrier.items())
    ]
    rankable = [b for b in buildings if b.kpis.kwh_per_m2_normalised is not None]
    rankable.sort(key=lambda b: (-(b.kpis.kwh_per_m2_normalised or 0.0), b.site))
    worst = [b.site for b in rankable[:WORST]]
    return ReportOut(
        owner=owner.id,
        owner_name=owner.name,
        site=site.id if site else None,
        month=str(month),
        start=period.start,
        end=period.end,
        partial=period.end > today(),
        totals=_totals(period, sites, per_site),
        emissions=emissions,
        factors=used,
        placeholder=any(n.placeholder for n in used),
        buildings=buildings,
        worst=worst,
        days=[
            ReportDay(date=d, heat_kwh=rounded("kwh", h), electricity_kwh=rounded("kwh", e))
            for d, (h, e) in sorted(per_day.items())
            if period.start <= d < period.end
        ],
    )


def _factor_notes(
    sites: Sequence[Site],
    co2: dict[tuple[str, str, str], float],
    factors: EmissionFactors,
    period: Period,
) -> dict[tuple[str, str, str], ReportFactor]:
    """(site, carrier, method) of the stored emissions → the factor in force mid-month in the
    site's area (what ingest computed them with)."""
    network = {s.id: s.network for s in sites}
    mid = rollups.local_midnight_ns(period.start + dt.timedelta(days=14))
    out: dict[tuple[str, str, str], ReportFactor] = {}
    for site_id, carrier, method in co2:
        if site_id not in network:
            continue
        note = factors.note(carrier, factors.area_for(carrier, network[site_id]), method, mid)
        if note is not None:
            out[(site_id, carrier, method)] = ReportFactor(**note._asdict())
    return out


def _totals(period: Period, sites: Sequence[Site], per_site: dict[str, Sums]) -> PeriodKpis:
    """Every building's energy (normalised heat: each building's own, summed); kWh/m² over the
    buildings with a floor area and days (Σ kWh / Σ m²)."""
    own = [per_site.get(s.id, Sums()) for s in sites]
    everything = kpis(period, performance.total(own), None, sum(s.heat_normalised_kwh for s in own))
    counted = [per_site[s.id] for s in sites if s.floor_area_m2 and per_site.get(s.id, Sums()).days > 0]
    area = sum(s.floor_area_m2 or 0.0 for s in sites if s.floor_area_m2 and per_site.get(s.id, Sums()).days)
    with_area = kpis(
        period, performance.total(counted), area or None, sum(s.heat_normalised_kwh for s in counted)
    )
    names = ("kwh_per_m2", "kwh_per_m2_normalised", "heat_kwh_per_m2", "heat_kwh_per_m2_normalised")
    return everything.model_copy(update={name: getattr(with_area, name) for name in names})


# ---- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = (
    "site",
    "name",
    "floor_area_m2",
    "days",
    "heat_kwh",
    "heat_normalised_kwh",
    "electricity_kwh",
    "kwh_per_m2",
    "kwh_per_m2_normalised",
    "co2e_kg_location",
    "co2e_kg_market",
    "comfort_low_h",
    "comfort_high_h",
    "co2_high_h",
    "indoor_hours",
    "placeholder_factor",
)


def csv_rows(report: ReportOut) -> list[list[object]]:
    """A row per building and a last ``total`` row (kWh/m² of the buildings with a floor area)."""

    def row(
        site: str,
        name: str,
        area: float | None,
        k: PeriodKpis,
        loc: float | None,
        mkt: float | None,
        placeholder: bool,
    ) -> list[object]:
        return [
            site,
            name,
            area,
            k.days,
            k.heat_kwh,
            k.heat_normalised_kwh,
            k.electricity_kwh,
            k.kwh_per_m2,
            k.kwh_per_m2_normalised,
            loc,
            mkt,
            k.comfort_low_h,
            k.comfort_high_h,
            k.co2_high_h,
            k.indoor_hours,
            "yes" if placeholder else "",
        ]

    rows = [
        row(b.site, b.name, b.floor_area_m2, b.kpis, b.co2e_kg_location, b.co2e_kg_market, b.placeholder)
        for b in report.buildings
    ]
    loc = _method_total(report.emissions, "location")
    mkt = _method_total(report.emissions, "market")
    area = sum(b.floor_area_m2 or 0.0 for b in report.buildings if b.floor_area_m2 and b.kpis.days)
    rows.append(row("total", "", area or None, report.totals, loc, mkt, report.placeholder))
    return rows


def _method_total(buckets: Sequence[EmissionsBucket], method: str) -> float | None:
    found = [b.co2e_kg for b in buckets if b.method == method]
    return rounded("co2e_kg", sum(found)) if found else None


# ---- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #222; margin: 2em; }
h1 { font-size: 16pt; margin-bottom: 0; } h2 { font-size: 12pt; margin-top: 1.5em; }
.meta { color: #555; }
table { border-collapse: collapse; width: 100%; margin-top: .5em; }
th, td { border-bottom: 1px solid #ccc; padding: 2px 4px; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
tr.total td { font-weight: bold; border-top: 2px solid #222; }
svg { display: block; margin-top: .5em; }
.meta svg { display: inline; margin: 0 .2em 0 .8em; }
td.name { min-width: 10em; }
table.buildings { font-size: 8pt; } table.buildings th, table.buildings td { padding: 1px 3px; }
.heat { fill: #c0392b; } .el { fill: #2980b9; } .norm { fill: #7f8c8d; } .axis { stroke: #888; }
svg text { font-size: 8pt; fill: #333; }
.warning { color: #a00; }
@page { size: A4; margin: 15mm; }
@media print {
  body { margin: 0; font-size: 9pt; }
  section { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _num(value: float | None, decimals: int = 1) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def _daily_chart(days: Sequence[ReportDay], period: Period) -> str:
    """Bars per day: heat with electricity stacked on it (kWh)."""
    width, height, left, bottom = 680, 180, 50, 20
    n = period.days
    top = max((d.heat_kwh + d.electricity_kwh for d in days), default=0.0) or 1.0
    step = (width - left) / n
    scale = (height - bottom - 10) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="daily energy">',
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}"/>',
        f'<text x="0" y="14">{_num(top, 0)} kWh</text>',
    ]
    for d in days:
        x = left + (d.date - period.start).days * step
        h_heat, h_el = d.heat_kwh * scale, d.electricity_kwh * scale
        y_heat = height - bottom - h_heat
        parts.append(
            f'<rect class="heat" x="{x:.1f}" y="{y_heat:.1f}" width="{step * 0.8:.1f}" height="{h_heat:.1f}">'
            f"<title>{d.date.isoformat()}: heat {_num(d.heat_kwh)} kWh</title></rect>"
        )
        parts.append(
            f'<rect class="el" x="{x:.1f}" y="{y_heat - h_el:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h_el:.1f}"><title>{d.date.isoformat()}: electricity {_num(d.electricity_kwh)} '
            "kWh</title></rect>"
        )
    for day in range(0, n, 5):
        x = left + day * step
        parts.append(f'<text x="{x:.1f}" y="{height - 5}">{day + 1}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _buildings_chart(buildings: Sequence[ReportBuilding]) -> str:
    """Paired horizontal bars per building: actual and normalised kWh/m²."""
    rows = [b for b in buildings if b.kpis.kwh_per_m2 is not None][:CHART_BUILDINGS]
    width, left, bar = 680, 200, 9
    height = max(1, len(rows)) * (2 * bar + 8) + 10
    top = max((max(b.kpis.kwh_per_m2 or 0.0, b.kpis.kwh_per_m2_normalised or 0.0) for b in rows), default=0.0)
    scale = (width - left - 60) / (top or 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="actual and normalised kWh per m2">'
    ]
    for i, b in enumerate(rows):
        y = 5 + i * (2 * bar + 8)
        actual, normal = b.kpis.kwh_per_m2 or 0.0, b.kpis.kwh_per_m2_normalised or 0.0
        parts.append(f'<text x="0" y="{y + bar + 3}">{html.escape(b.name[:32])}</text>')
        parts.append(
            f'<rect class="heat" x="{left}" y="{y}" width="{actual * scale:.1f}" height="{bar}"/>'
            f'<text x="{left + actual * scale + 4:.1f}" y="{y + bar - 1}">{_num(actual, 2)}</text>'
        )
        parts.append(
            f'<rect class="norm" x="{left}" y="{y + bar}" width="{normal * scale:.1f}" height="{bar}"/>'
            f'<text x="{left + normal * scale + 4:.1f}" y="{y + 2 * bar - 1}">{_num(normal, 2)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _key(css_class: str) -> str:
    """A legend swatch."""
    return f'<svg width="10" height="10"><rect class="{css_class}" width="10" height="10"/></svg>'


def render_html(report: ReportOut) -> str:
    """The print-ready page (A4); every registry text is escaped."""
    e = html.escape
    title = f"Energy report {report.month}: " + (
        e(next(b.name for b in report.buildings))
        if report.site and report.buildings
        else e(report.owner_name)
    )
    t = report.totals
    location = _method_total(report.emissions, "location")
    market = _method_total(report.emissions, "market")
    names = {b.site: b for b in report.buildings}
    order = {site: i for i, site in enumerate(report.worst)}
    chart_rows = sorted(
        report.buildings,
        key=lambda b: (order.get(b.site, len(order)), -(b.kpis.kwh_per_m2_normalised or 0.0)),
    )

    def cells(k: PeriodKpis, loc: float | None, mkt: float | None, placeholder: bool) -> str:
        mark = "*" if placeholder else ""  # the footnote on placeholder factors
        values = (
            _num(k.heat_kwh),
            _num(k.heat_normalised_kwh),
            _num(k.electricity_kwh),
            _num(k.kwh_per_m2, 2),
            _num(k.kwh_per_m2_normalised, 2),
            _num(loc) + mark,
            _num(mkt) + mark,
            _num(k.comfort_low_h),
            _num(k.comfort_high_h),
            _num(k.co2_high_h),
        )
        return "".join(f"<td>{v}</td>" for v in values)

    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{title}</h1>",
        f'<p class="meta">{e(report.owner_name)} · {report.start.isoformat()} – '
        f"{(report.end - dt.timedelta(days=1)).isoformat()} (Europe/Stockholm local days)"
        + (" · <strong>month not ended: partial</strong>" if report.partial else "")
        + "</p></header>",
        "<section><h2>Summary</h2><table><tr><th>heat kWh</th><th>normalised heat kWh</th>"
        "<th>electricity kWh</th><th>kWh/m² Atemp</th><th>normalised kWh/m²</th>"
        "<th>kg CO2e (location)</th><th>kg CO2e (market)</th><th>hours too cold</th>"
        "<th>hours too warm</th><th>hours CO₂ high</th></tr>",
        f'<tr class="total">{cells(t, location, market, report.placeholder)}</tr>',
        "</table>",
        *(
            [
                '<p class="warning"><strong>* These emissions rest on a placeholder emission factor'
                " (a stand-in value, not the supplier's own): see the factors below.</strong></p>"
            ]
            if report.placeholder
            else []
        ),
        "</section>",
        f"<section><h2>Energy per day</h2>{_daily_chart(report.days, Period(report.start, report.end))}"
        f'<p class="meta">{_key("heat")} heat {_key("el")} electricity</p></section>',
        "<section><h2>Actual and normalised kWh/m² Atemp</h2>"
        f"{_buildings_chart(chart_rows)}"
        f'<p class="meta">{_key("heat")} actual {_key("norm")} normalised '
        "(degree-day corrected heat + electricity)</p></section>",
        "<section><h2>Worst buildings</h2><ol>",
        *(
            f"<li>{e(names[s].name)} ({e(s)}): "
            f"{_num(names[s].kpis.kwh_per_m2_normalised, 2)} kWh/m² normalised</li>"
            for s in report.worst
        ),
        "</ol></section>",
        "<section><h2>Buildings</h2><table class='buildings'>"
        "<tr><th>building</th><th>m²</th><th>heat kWh</th>"
        "<th>normalised heat kWh</th><th>electricity kWh</th><th>kWh/m²</th><th>normalised kWh/m²</th>"
        "<th>kg CO2e (location)</th><th>kg CO2e (market)</th><th>hours too cold</th>"
        "<th>hours too warm</th><th>hours CO₂ high</th></tr>",
        *(
            f'<tr><td class="name">{e(b.name)} ({e(b.site)})</td><td>{_num(b.floor_area_m2, 0)}</td>'
            f"{cells(b.kpis, b.co2e_kg_location, b.co2e_kg_market, b.placeholder)}</tr>"
            for b in report.buildings
        ),
        "</table></section>",
        "<section><h2>Emission factors</h2><ul>",
        *(
            f"<li>{e(f.carrier)} ({e(f.area)}, {e(f.method)}): {_num(f.g_co2e_per_kwh)} g CO2e/kWh"
            f"{' — <strong>PLACEHOLDER</strong>' if f.placeholder else ''}. {e(f.source)}</li>"
            for f in report.factors
        ),
        "</ul></section>",
        '<footer><p class="meta">kWh/m²: the registry floor area as Atemp (Boverket). Normalised: '
        "Σbase + (Σheat − Σbase) · Σnormal degree days / Σdegree days (graddagskorrigering). "
        "Comfort: indoor hours outside the configured band.</p></footer>",
        "</body></html>",
    ]
    return "\n".join(body)
