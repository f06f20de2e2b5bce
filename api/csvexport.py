"""CSV renditions of query answers (``?format=csv`` on the readings, series, energy and emissions
endpoints).

One rule for every CSV: times are Europe/Stockholm local time with their offset
(``2026-11-20T08:40:00+01:00``), as the JSON's buckets are; numbers are already rounded to their
field's decimals (api/precision.py). Two dialects:

- ``standard``: ``,`` between cells, ``.`` in numbers, ``\\n`` line ends, UTF-8 without BOM.
- ``excel-sv``: what Excel with Swedish regional settings opens by double-click: ``;`` between
  cells, decimal comma (``80,8``), CRLF line ends, UTF-8 with a BOM (without one Excel reads the
  file as Windows-1252 and å/ä/ö come out garbled).

Quoting is Python's ``csv`` module's (minimal: a cell holding the separator, a quote or a line
break is quoted).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import Response

from api.errors import bad_request
from api.timerange import LOCAL

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}

DialectName = Literal["standard", "excel-sv"]
Format = Annotated[
    Literal["json", "csv"],
    Query(description="csv: a text/csv attachment, times in Europe/Stockholm local time with offset"),
]
DialectParam = Annotated[
    DialectName | None,
    Query(
        description="with format=csv only. standard (default): `,` and decimal point, UTF-8; "
        "excel-sv: `;` and decimal comma, CRLF, UTF-8 with BOM, for Excel with Swedish settings"
    ),
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one CSV flavour writes cells, numbers and lines."""

    delimiter: str
    decimal: str
    lineterminator: str
    bom: bool


DIALECTS: dict[str, Dialect] = {
    "standard": Dialect(delimiter=",", decimal=".", lineterminator="\n", bom=False),
    "excel-sv": Dialect(delimiter=";", decimal=",", lineterminator="\r\n", bom=True),
}


def csv_dialect(output: str, dialect: str | None) -> Dialect | None:
    """The dialect to write, or None for JSON; a dialect asked for with JSON is refused, not ignored."""
    if output != "csv":
        if dialect is not None:
            raise bad_request("dialect_needs_csv", f"dialect={dialect} applies to format=csv only")
        return None
    return DIALECTS[dialect or "standard"]


def local_time(moment: dt.datetime) -> str:
    """A CSV time: local time with offset, whatever zone the answer holds it in."""
    return moment.astimezone(LOCAL).isoformat()


def _cell(value: object, decimal: str) -> object:
    if isinstance(value, float):
        # repr is the shortest text that reads back to the same float; rounded values are short.
        return repr(value) if decimal == "." else repr(value).replace(".", decimal)
    # A cell starting with = + - @ is a formula to Excel; ids and numbers here never start with
    # =, + or @, and negative numbers must stay numbers, so only those three are neutralised.
    if isinstance(value, str) and value[:1] in ("=", "+", "@"):
        return "'" + value
    return "" if value is None else value


def csv_text(dialect: Dialect, header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The CSV document as text (with the BOM when the dialect wants one)."""
    buffer = io.StringIO()
    if dialect.bom:
        buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=dialect.delimiter, lineterminator=dialect.lineterminator)
    writer.writerow(header)
    decimal = dialect.decimal
    writer.writerows([_cell(v, decimal) for v in row] for row in rows)
    return buffer.getvalue()


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    dialect: Dialect = DIALECTS["standard"],
) -> Response:
    """A ``text/csv`` attachment with a header row."""
    return Response(
        csv_text(dialect, header, rows).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
