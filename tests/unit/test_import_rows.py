"""The import's CSV reading: the documented header, delimiters, decimal comma, Stockholm local
times (the DST hours refused), bounded rows, and the mapping file. Pure: no servers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from energy_core.errors import ConfigError, Reason
from energy_core.timeutil import NS
from ingest.importer.layout import layout_of, load_mapping, sniff_delimiter
from ingest.importer.rows import CsvFile, Row, parse_time


def rows_of(tmp_path: Path, text: str | bytes, **kwargs: object) -> list[Row]:
    path = tmp_path / "f.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    with CsvFile(path, **kwargs) as csv_file:  # type: ignore[arg-type]
        return list(csv_file.rows())


def utc_ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * NS


def test_a_time_with_an_offset_is_that_instant() -> None:
    assert parse_time("2025-01-15T00:15:00+01:00") == utc_ns(2025, 1, 14, 23, 15)
    assert parse_time("2025-01-15 00:15:00Z") == utc_ns(2025, 1, 15, 0, 15)


def test_a_time_without_an_offset_is_stockholm_local_time_winter_and_summer() -> None:
    assert parse_time("2025-01-15T00:15") == utc_ns(2025, 1, 14, 23, 15)  # CET, UTC+1
    assert parse_time("2025-07-01 12:00:00") == utc_ns(2025, 7, 1, 10, 0)  # CEST, UTC+2


def test_the_repeated_autumn_hour_without_an_offset_is_refused_and_with_one_is_two_instants() -> None:
    with pytest.raises(ValueError, match="ambiguous in Europe/Stockholm"):
        parse_time("2025-10-26T02:30:00")
    first, second = parse_time("2025-10-26T02:30:00+02:00"), parse_time("2025-10-26T02:30:00+01:00")
    assert second - first == 3600 * NS
    assert parse_time("2025-10-26T01:59:59") == utc_ns(2025, 10, 25, 23, 59, 59)  # still unambiguous
    assert parse_time("2025-10-26T03:00:00") == utc_ns(2025, 10, 26, 2, 0)


def test_the_skipped_spring_hour_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="does not exist in Europe/Stockholm"):
        parse_time("2025-03-30T02:30")
    assert parse_time("2025-03-30T03:00") == utc_ns(2025, 3, 30, 1, 0)


def test_a_time_that_is_not_iso_8601_is_refused_quoting_it() -> None:
    with pytest.raises(ValueError, match="'15/01/2025 00:15' is not ISO 8601"):
        parse_time("15/01/2025 00:15")


def test_the_delimiter_is_sniffed_from_the_header() -> None:
    assert sniff_delimiter("device,ts,energy") == ","
    assert sniff_delimiter("device;ts;energy[MWh]") == ";"
    assert sniff_delimiter("device\tts\tenergy") == "\t"
    with pytest.raises(ValueError, match="one column"):
        sniff_delimiter("device")


def test_the_header_names_quantities_with_their_unit_in_brackets() -> None:
    layout = layout_of("device,ts,energy[MWh],volume,supply_temp[°C]", "f.csv")
    assert (layout.device, layout.ts, layout.width) == (0, 1, 5)
    assert [(c.index, c.quantity, c.unit) for c in layout.values] == [
        (2, "energy", "MWh"),
        (3, "volume", None),
        (4, "supply_temp", "°C"),
    ]
    assert not layout.decimal_comma


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("device,ts,colour", "column 'colour' is not device, ts or a quantity"),
        ("device,ts,energy[furlongs]", "column 'energy\\[furlongs\\]': unit 'furlongs' is not known"),
        ("device,ts,energy[Cel]", "unit 'Cel' cannot express kWh"),
        ("device,energy", "no 'ts' column"),
        ("device,ts,energy,energy[MWh]", "quantity 'energy' has more than one column"),
        ("device,ts,ts,energy", "column 'ts' appears twice"),
        ("device,ts", "names no quantity column"),
        (",".join(["device", "ts"] + [f"c{i}" for i in range(70)]), "at most 64 are read"),
    ],
)
def test_a_wrong_header_refuses_the_file_naming_the_column(header: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        layout_of(header, "f.csv")


def test_rows_become_readings_with_their_units_and_empty_cells_left_out(tmp_path: Path) -> None:
    rows = rows_of(
        tmp_path, "device,ts,energy[MWh],volume\nhm-1,2025-01-15T00:15Z,12.5,\n\nhm-2,2025-01-15T00:30Z,,3\n"
    )
    assert [r.number for r in rows] == [2, 4]  # the blank line 3 is skipped, numbers are lines
    first, second = (r.reading for r in rows)
    assert first is not None
    assert second is not None
    assert (first.device_key, first.ts_ns, first.values) == (
        "hm-1",
        utc_ns(2025, 1, 15, 0, 15),
        {"energy": (12.5, "MWh")},
    )
    assert second.values == {"volume": (3.0, None)}


def test_semicolon_files_take_decimal_commas_and_a_byte_order_mark(tmp_path: Path) -> None:
    text = "\ufeffdevice;ts;energy[kWh];flow\nhm-1;2025-01-15 00:15;1\u00a0234,5;0,25\n"
    (row,) = rows_of(tmp_path, text.encode("utf-8"))
    assert row.reading is not None
    assert row.reading.values == {"energy": (1234.5, "kWh"), "flow": (0.25, None)}


def test_bad_rows_carry_their_row_number_and_reason_and_the_next_rows_are_still_read(tmp_path: Path) -> None:
    text = (
        "device,ts,energy\n"
        "hm-1,2025-01-15T00:15Z,1\n"
        "hm-1,2025-01-15T00:30Z\n"  # 3: a column short
        "hm-1,2025-10-26T02:30,2\n"  # 4: ambiguous
        "hm-1,2025-01-15T00:45Z,ten\n"  # 5: not a number
        ",2025-01-15T01:00Z,3\n"  # 6: no device
        "hm-1," + "1" * 300 + "\n"  # 7: too long
        "hm-1,2025-01-15T01:15Z,4\n"
    )
    rows = rows_of(tmp_path, text, max_line_bytes=200)
    outcome = [(r.number, None if r.rejection is None else r.rejection.reason) for r in rows]
    assert outcome == [
        (2, None),
        (3, Reason.SCHEMA),
        (4, Reason.SCHEMA),
        (5, Reason.SCHEMA),
        (6, Reason.SCHEMA),
        (7, Reason.PAYLOAD_TOO_LARGE),
        (8, None),
    ]
    details = [r.rejection.detail for r in rows if r.rejection is not None]
    assert details[0] == "2 columns, the header has 3"
    assert "ambiguous" in details[1]
    assert details[2] == "column 'energy': 'ten' is not a number"
    assert details[4] == "row longer than 200 bytes"
    assert len(rows[5].raw) <= 512


def test_a_row_that_is_not_utf8_is_refused_alone(tmp_path: Path) -> None:
    rows = rows_of(tmp_path, b"device,ts,energy\nm\xe4tare,2025-01-15T00:15Z,1\nhm-1,2025-01-15T00:15Z,1\n")
    assert rows[0].rejection is not None
    assert rows[0].rejection.detail == "not utf-8 text"
    assert rows[1].reading is not None


def test_an_empty_file_or_an_overlong_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty file"):
        rows_of(tmp_path, "")
    with pytest.raises(ConfigError, match="header is longer than 100 bytes"):
        rows_of(tmp_path, "device,ts," + "e" * 200 + "\n", max_line_bytes=100)


def test_a_mapping_file_names_the_exports_columns_and_forces_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "device: Mätare\nts: Tid\ndelimiter: ';'\nencoding: cp1252\n"
        "columns:\n  Energi: {quantity: energy, unit: MWh}\n  Volym: {quantity: volume}\n",
        encoding="utf-8",
    )
    mapping = load_mapping(path)
    layout = layout_of("Tid;Kommentar;Mätare;Volym;Energi", "f.csv", mapping)
    assert (layout.device, layout.ts, layout.delimiter, layout.encoding) == (2, 0, ";", "cp1252")
    assert [(c.index, c.quantity, c.unit) for c in layout.values] == [
        (4, "energy", "MWh"),
        (3, "volume", None),
    ]
    (row,) = rows_of(
        tmp_path,
        "Tid;Kommentar;Mätare;Volym;Energi\n2025-01-15 00:15;x;73500123;1,5;2,25\n".encode("cp1252"),
        mapping=mapping,
    )
    assert row.reading is not None
    assert row.reading.device_key == "73500123"
    assert row.reading.values == {"energy": (2.25, "MWh"), "volume": (1.5, None)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "device: d\nts: t\ncolumns:\n  E: {quantity: heat}\n",
            "columns.E.quantity: 'heat' is not a quantity",
        ),
        (
            "device: d\nts: t\ncolumns:\n  E: {quantity: energy, unit: m3}\n",
            "columns.E.unit: unit 'm3' cannot express kWh",
        ),
        ("device: d\ncolumns:\n  E: {quantity: energy}\n", "ts: Field required"),
        ("device: d\nts: t\ncolumns: {}\nextra: 1\n", "columns"),
        (
            "device: d\nts: t\nencoding: klingon\ncolumns:\n  E: {quantity: energy}\n",
            "encoding: 'klingon' is not a known encoding",
        ),
    ],
)
def test_a_wrong_mapping_file_is_refused_in_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_mapping(path)
    assert "\n" not in str(caught.value)


def test_a_mapping_column_missing_from_the_header_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("device: d\nts: t\ncolumns:\n  E: {quantity: energy}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the mapping's column 'E' is not in the header"):
        layout_of("d;t;X", "f.csv", load_mapping(path))
