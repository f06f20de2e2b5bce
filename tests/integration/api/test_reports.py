"""Monthly reports per owner and per building (issue 16): JSON, CSV in both dialects, the
print-ready HTML page, tenant isolation and bad months. January 2026 of the buildings in
tests/integration/api/building_world.py."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.integration.api import building_world
from tests.integration.api.building_world import TB2_NAME, BuildingWorld

MONTH = "2026-01"


@pytest.fixture(scope="module")
def world(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildingWorld]:
    with building_world.serve(services, tmp_path_factory.mktemp("reports")) as found:
        yield found


def get(world: BuildingWorld, who: str | None, path: str, **params: str) -> Any:
    with world.client(who) as client:
        return client.get(path, params=params)


def by_site(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["site"]: b for b in report["buildings"]}


def test_the_owner_report_sums_the_month_of_each_building(world: BuildingWorld) -> None:
    report = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}").json()
    assert (report["owner"], report["site"], report["month"]) == ("tunabyggen", None, MONTH)
    assert (report["start"], report["end"], report["partial"]) == ("2026-01-01", "2026-02-01", False)
    buildings = by_site(report)
    assert list(buildings) == ["tb-1", "tb-2", "tb-3"]
    tb1 = buildings["tb-1"]["kpis"]
    # tb-1: 1 January 2026 is day 306 of its year, k = 306 % 5 = 1; 31 days = 6 cycles + one k = 1 day.
    # Σdd = 6·50 + 15 = 315; Σheat = 31·48 + 12·315 = 1488 + 3780 = 5268; Σbase = 1488; Σnormal = 31·11 = 341.
    # Normalised = 1488 + 3780 · 341 / 315 = 1488 + 4092 = 5580. Electricity 31·30 = 930.
    assert (tb1["days"], tb1["heat_kwh"], tb1["degree_days"], tb1["normal_degree_days"]) == (
        31,
        5268.0,
        315.0,
        341.0,
    )
    assert tb1["heat_normalised_kwh"] == 5580.0
    assert tb1["electricity_kwh"] == 930.0
    assert tb1["kwh_per_m2"] == 6.198  # (5268 + 930) / 1000
    assert tb1["kwh_per_m2_normalised"] == 6.51  # (5580 + 930) / 1000
    # Comfort: k = 0 on 6 days (1 h each), k = 1 on 7 days (2 h CO₂ each), 0.5 h too warm a day.
    assert (tb1["comfort_low_h"], tb1["co2_high_h"], tb1["comfort_high_h"], tb1["indoor_hours"]) == (
        6.0,
        14.0,
        15.5,
        744.0,
    )
    tb2 = buildings["tb-2"]["kpis"]
    # Σheat 6200, Σbase 1550, Σdd 310, Σnormal 341: 1550 + 4650 · 1.1 = 6665; (6665 + 620) / 500 = 14.57.
    assert (tb2["heat_kwh"], tb2["heat_normalised_kwh"], tb2["kwh_per_m2_normalised"]) == (
        6200.0,
        6665.0,
        14.57,
    )
    tb3 = buildings["tb-3"]["kpis"]
    assert (tb3["heat_kwh"], tb3["heat_normalised_kwh"], tb3["kwh_per_m2"]) == (3100.0, 3100.0, None)  # dd 0
    totals = report["totals"]
    assert totals["heat_kwh"] == 14568.0  # 5268 + 6200 + 3100
    assert totals["heat_normalised_kwh"] == 15345.0  # 5580 + 6665 + 3100: each building's own
    assert totals["electricity_kwh"] == 1860.0  # 930 + 620 + 310
    assert totals["kwh_per_m2"] == 8.6787  # (5268 + 930 + 6200 + 620) / 1500 = 8.67866…
    assert totals["kwh_per_m2_normalised"] == 9.1967  # (5580 + 930 + 6665 + 620) / 1500 = 9.19666…
    assert report["worst"] == ["tb-2", "tb-1"]  # 14.57 > 6.51; tb-3 has no floor area
    assert len(report["days"]) == 31
    first = report["days"][0]
    # 1 January: tb-1 k = 1 (dd 15: 48 + 180 = 228) + tb-2 200 + tb-3 100; electricity 30 + 20 + 10.
    assert first == {"date": "2026-01-01", "heat_kwh": 528.0, "electricity_kwh": 60.0}


def test_the_report_holds_the_months_emissions_of_the_owners_buildings_only(world: BuildingWorld) -> None:
    report = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}").json()
    buildings = by_site(report)
    # tb-1: 12.5 + 1.5 + 7.25 = 21.25 kg location, 30.0 + 15.5 = 45.5 kg market; tb-2 4.0 / 8.0.
    assert (buildings["tb-1"]["co2e_kg_location"], buildings["tb-1"]["co2e_kg_market"]) == (21.25, 45.5)
    assert (buildings["tb-2"]["co2e_kg_location"], buildings["tb-2"]["co2e_kg_market"]) == (4.0, 8.0)
    assert buildings["tb-3"]["co2e_kg_location"] is None  # no emissions stored: not a zero
    emissions = {(e["carrier"], e["method"]): e["co2e_kg"] for e in report["emissions"]}
    # ot-1's 1000 / 2000 kg are another owner's.
    assert emissions == {
        ("district_heat", "location"): 23.75,  # 12.5 + 7.25 + 4.0
        ("district_heat", "market"): 53.5,  # 30.0 + 15.5 + 8.0
        ("electricity", "location"): 1.5,
    }


def test_a_buildings_report_has_the_same_numbers_as_its_row_in_the_owners(world: BuildingWorld) -> None:
    owner = by_site(get(world, "operator", f"/owners/tunabyggen/reports/{MONTH}").json())["tb-1"]
    site = get(world, "tunabyggen", f"/sites/tb-1/reports/{MONTH}").json()
    assert site["site"] == "tb-1"
    assert site["buildings"] == [owner]
    assert site["totals"]["heat_normalised_kwh"] == 5580.0
    assert site["totals"]["kwh_per_m2_normalised"] == 6.51
    assert site["worst"] == ["tb-1"]


def parse_csv(answer: Any, delimiter: str, decimal: str) -> list[dict[str, Any]]:
    text = answer.content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))

    def value(cell: str) -> Any:
        try:
            return float(cell.replace(decimal, ".")) if cell else None
        except ValueError:
            return cell

    return [{k: value(v) if k not in ("site", "name") else v for k, v in row.items()} for row in rows]


def test_the_csv_report_reads_back_to_the_same_numbers_in_both_dialects(world: BuildingWorld) -> None:
    standard = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}", format="csv")
    swedish = get(
        world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}", format="csv", dialect="excel-sv"
    )
    assert standard.headers["content-type"].startswith("text/csv")
    assert 'filename="tunabyggen-2026-01-report.csv"' in standard.headers["content-disposition"]
    assert swedish.content.startswith("\ufeff".encode())
    assert b"\r\n" in swedish.content
    assert b"6,198" in swedish.content  # decimal comma
    rows = parse_csv(standard, ",", ".")
    assert rows == parse_csv(swedish, ";", ",")
    assert [r["site"] for r in rows] == ["tb-1", "tb-2", "tb-3", "total"]
    tb1, tb2, _, total = rows
    assert (tb1["heat_kwh"], tb1["heat_normalised_kwh"], tb1["kwh_per_m2_normalised"]) == (
        5268.0,
        5580.0,
        6.51,
    )
    assert (tb1["co2e_kg_location"], tb1["co2e_kg_market"]) == (21.25, 45.5)
    assert tb2["name"] == TB2_NAME  # quoted where it holds the separator, not cut
    assert (total["heat_kwh"], total["heat_normalised_kwh"], total["kwh_per_m2"]) == (
        14568.0,
        15345.0,
        8.6787,
    )
    assert (total["co2e_kg_location"], total["co2e_kg_market"], total["floor_area_m2"]) == (
        25.25,
        53.5,
        1500.0,
    )


class Page(HTMLParser):
    """Counts the elements of a page and keeps its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_is_one_printable_page_with_the_numbers_charts_and_escaped_names(
    world: BuildingWorld,
) -> None:
    answer = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}", format="html")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    parser = Page()
    parser.feed(page)
    parser.close()
    assert page.startswith("<!DOCTYPE html>")
    assert (parser.tags.get("html"), parser.tags.get("head"), parser.tags.get("body")) == (1, 1, 1)
    assert parser.tags.get("svg", 0) >= 2  # daily energy and actual vs normalised
    assert parser.tags.get("script", 0) == 0
    assert "@media print" in page
    assert "size: A4" in page
    # The building's name is text on the page, never markup: no <b> element came from it.
    assert parser.tags.get("b", 0) == 0
    assert html.escape(TB2_NAME) in page
    text = " ".join(parser.text)
    assert TB2_NAME in text
    for number in ("5268.0", "5580.0", "6.51", "14.57", "14568.0", "15345.0", "9.20", "21.2", "45.5"):
        assert number in text, number
    worst = page.index("Worst buildings")
    assert page.index("(tb-2)", worst) < page.index("(tb-1)", worst)


def test_a_buildings_html_report_is_titled_with_its_name(world: BuildingWorld) -> None:
    page = get(world, "tunabyggen", f"/sites/tb-2/reports/{MONTH}", format="html").text
    assert f"<title>Energy report {MONTH}: {html.escape(TB2_NAME)}</title>" in page
    assert "Jakobsgårdarna" not in page


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_an_owner_key_gets_404_for_another_owners_report_in_every_format(
    world: BuildingWorld, fmt: str
) -> None:
    for path in (f"/owners/stora-bo/reports/{MONTH}", f"/sites/ot-1/reports/{MONTH}"):
        other = get(world, "tunabyggen", path, format=fmt)
        unknown = get(
            world, "tunabyggen", path.replace("stora-bo", "nobody").replace("ot-1", "nope"), format=fmt
        )
        assert other.status_code == unknown.status_code == 404
        assert other.headers["content-type"].startswith("application/json")
        assert other.json()["error"] == unknown.json()["error"]
    own = get(world, "stora", f"/owners/stora-bo/reports/{MONTH}", format=fmt)
    assert own.status_code == 200
    assert b"tb-1" not in own.content
    assert b"Jakobsg" not in own.content
    missing = get(world, None, f"/owners/tunabyggen/reports/{MONTH}", format=fmt)
    assert missing.status_code == 401


def test_operators_get_any_owners_report(world: BuildingWorld) -> None:
    report = get(world, "operator", f"/owners/stora-bo/reports/{MONTH}").json()
    assert [b["site"] for b in report["buildings"]] == ["ot-1"]
    assert by_site(report)["ot-1"]["co2e_kg_location"] == 1000.0


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/owners/tunabyggen/reports/2026-13", {}, 400, "bad_month"),
        ("/owners/tunabyggen/reports/2026-00", {}, 400, "bad_month"),
        ("/owners/tunabyggen/reports/2026-1", {}, 400, "bad_month"),
        ("/owners/tunabyggen/reports/1999-12", {}, 400, "bad_month"),
        ("/sites/tb-1/reports/januari", {}, 400, "bad_month"),
        ("/sites/tb-1/reports/2026-01-01", {}, 422, "invalid_parameter"),
        ("/owners/tunabyggen/reports/2099-01", {}, 400, "month_in_future"),
        ("/sites/tb-1/reports/2099-01", {}, 400, "month_in_future"),
        ("/owners/tunabyggen/reports/2026-01", {"format": "pdf"}, 422, "invalid_parameter"),
        (
            "/owners/tunabyggen/reports/2026-01",
            {"format": "html", "dialect": "excel-sv"},
            400,
            "dialect_needs_csv",
        ),
        ("/owners/tunabyggen/reports/2026-01", {"dialect": "excel-sv"}, 400, "dialect_needs_csv"),
        ("/sites/tb-1/reports/2026-01", {"dialect": "semicolon", "format": "csv"}, 422, "invalid_parameter"),
        ("/sites/tb-1/reports/2026-01", {"month": "2026-02"}, 400, "unknown_parameter"),
    ],
)
def test_bad_months_and_formats_get_a_4xx_json_error(
    world: BuildingWorld, path: str, params: dict[str, str], status: int, code: str
) -> None:
    answer = get(world, "tunabyggen", path, **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"] == code


@pytest.mark.parametrize(
    ("month", "heat_kwh"),
    [
        # March 2025 (30 March has 23 hours): days 0 … 30 of tb-1's year, k from 0; 6 cycles + k = 0:
        # Σdd = 300 + 20 = 320, Σheat = 31·48 + 12·320 = 5328.
        ("2025-03", 5328.0),
        # October 2025 (26 October has 25 hours): day 214 = k 4 first; 6 cycles + k = 4 (dd 0):
        # Σdd = 300, Σheat = 31·48 + 12·300 = 5088.
        ("2025-10", 5088.0),
    ],
)
def test_a_month_with_a_dst_change_holds_each_of_its_local_days_once(
    world: BuildingWorld, month: str, heat_kwh: float
) -> None:
    report = get(world, "tunabyggen", f"/sites/tb-1/reports/{month}").json()
    year, number = (int(p) for p in month.split("-"))
    assert [d["date"] for d in report["days"]] == [f"{year}-{number:02d}-{day:02d}" for day in range(1, 32)]
    assert report["totals"]["days"] == 31
    assert report["totals"]["heat_kwh"] == heat_kwh


def test_emissions_resting_on_a_placeholder_factor_are_flagged_in_every_format(world: BuildingWorld) -> None:
    report = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}").json()
    assert report["placeholder"] is True
    factors = {
        (f["carrier"], f["area"], f["method"]): (f["g_co2e_per_kwh"], f["placeholder"])
        for f in report["factors"]
    }
    assert factors == {
        ("district_heat", "test-dh", "location"): (54.9, True),
        ("district_heat", "test-dh", "market"): (120.0, True),
        ("electricity", "SE3", "location"): (36.0, False),
    }
    flags = {b["site"]: b["placeholder"] for b in report["buildings"]}
    assert flags == {"tb-1": True, "tb-2": True, "tb-3": False}  # tb-3 has no emissions at all
    rows = parse_csv(get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}", format="csv"), ",", ".")
    assert [r["placeholder_factor"] for r in rows] == ["yes", "yes", None, "yes"]
    page = get(world, "tunabyggen", f"/owners/tunabyggen/reports/{MONTH}", format="html").text
    assert "placeholder emission factor" in page
    assert "21.2*" in page  # tb-1's location-based kg carry the mark
    assert "PLACEHOLDER: a stand-in &lt;value&gt;" in page
