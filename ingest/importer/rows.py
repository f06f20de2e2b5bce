"""A CSV file of meter readings, read line by line: each line bounded before it is parsed.

One line is one row (a quoted field cannot span lines); the row number is the line number, the
header being row 1. A line longer than ``max_line_bytes`` is not read into memory: it is skipped
to its end and reported as ``payload_too_large``. The whole file is never held in memory.

Times: ISO 8601 / RFC 3339 with an offset (``2025-01-01T00:15:00+01:00``, ``…Z``); a time without
one is Europe/Stockholm local time, and the local times that do not name one instant are refused:
the hour repeated when summer time ends (02:00–02:59 on the last Sunday of October happens twice)
and the hour skipped when it starts (02:00–02:59 on the last Sunday of March does not exist).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from energy_core.errors import ConfigError, Reason
from energy_core.schema import RawReading
from energy_core.timeutil import STOCKHOLM, datetime_ns
from ingest.importer.layout import Layout, MappingFile, layout_of
from ingest.normalise import Rejection

MAX_LINE_BYTES = 4096
SHOWN_BYTES = 512  # of an over-long line, kept for its dead letter
_BOM = b"\xef\xbb\xbf"
_SPACES = str.maketrans("", "", " \u00a0\u202f")  # thousands separators of a Swedish export


@dataclass(frozen=True, slots=True)
class Row:
    """One data line: the reading it holds, or why it holds none."""

    number: int  # line number in the file (the header is 1)
    raw: bytes  # the line as read, without its line break (cut at SHOWN_BYTES when over-long)
    reading: RawReading | None
    rejection: Rejection | None


def parse_time(text: str) -> int:
    """A time of a row as UTC ns; without an offset it is Europe/Stockholm local time.

    Raises ValueError (one line, quoting the input) when it is not ISO 8601, or when the local
    time is ambiguous or does not exist in Europe/Stockholm.
    """
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {text[:64]!r} is not ISO 8601 (e.g. 2025-01-01T00:15:00+01:00)") from None
    if moment.tzinfo is not None:
        return datetime_ns(moment, naive=dt.UTC)
    local = moment.replace(tzinfo=STOCKHOLM)
    if local.utcoffset() != moment.replace(tzinfo=STOCKHOLM, fold=1).utcoffset():
        back = local.astimezone(dt.UTC).astimezone(STOCKHOLM).replace(tzinfo=None)
        if back != moment:
            raise ValueError(
                f"local time {text[:64]!r} does not exist in Europe/Stockholm "
                "(the hour skipped when summer time starts): give its UTC offset"
            )
        raise ValueError(
            f"local time {text[:64]!r} is ambiguous in Europe/Stockholm (the hour repeated when "
            "summer time ends): give its UTC offset (+02:00 for the first, +01:00 for the second)"
        )
    return datetime_ns(local, naive=STOCKHOLM)


class CsvFile:
    """One file being imported: open it (reads the header), then iterate :meth:`rows`."""

    def __init__(
        self, path: Path, mapping: MappingFile | None = None, *, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.mapping = mapping
        self.max_line_bytes = max_line_bytes
        self.bytes_read = 0
        self.size = 0
        self._handle: BinaryIO | None = None
        self.layout: Layout | None = None

    def __enter__(self) -> CsvFile:
        try:
            self._handle = self.path.open("rb")
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise ConfigError(f"{self.path} cannot be read: {exc.strerror}") from None
        header = self._handle.readline(self.max_line_bytes + 1)
        self.bytes_read = len(header)
        if not header.strip():
            raise ConfigError(f"{self.path}: empty file, or an empty first line (the header)")
        if len(header) > self.max_line_bytes:
            raise ConfigError(f"{self.path}: the header is longer than {self.max_line_bytes} bytes")
        encoding = self.mapping.encoding if self.mapping is not None else "utf-8"
        try:
            text = header.removeprefix(_BOM).decode(encoding).rstrip("\r\n")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{self.path}: the header is not {encoding} text (give encoding: in a --mapping file)"
            ) from None
        self.layout = layout_of(text, str(self.path), self.mapping)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def rows(self) -> Iterator[Row]:
        """Every data line after the header, in order; blank lines are skipped."""
        handle, layout, limit = self._handle, self.layout, self.max_line_bytes
        if handle is None or layout is None:
            raise RuntimeError("use CsvFile as a context manager")
        number = 1
        while True:
            line = handle.readline(limit + 1)
            if not line:
                return
            number += 1
            self.bytes_read += len(line)
            if len(line) > limit and not line.endswith(b"\n"):
                while True:  # skip to the end of the line, a bounded piece at a time
                    rest = handle.readline(64 * 1024)
                    self.bytes_read += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield self._rejected(
                    number, line[:SHOWN_BYTES], Reason.PAYLOAD_TOO_LARGE, f"row longer than {limit} bytes"
                )
                continue
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            yield self._row(number, raw, layout)

    def _rejected(
        self, number: int, raw: bytes, reason: Reason, detail: str, device: str | None = None
    ) -> Row:
        return Row(number, raw, None, Rejection(reason, detail, device))

    def _row(self, number: int, raw: bytes, layout: Layout) -> Row:
        try:
            text = raw.decode(layout.encoding)
        except UnicodeDecodeError:
            return self._rejected(number, raw, Reason.SCHEMA, f"not {layout.encoding} text")
        delimiter = layout.delimiter
        cells = text.split(delimiter) if '"' not in text else next(csv.reader([text], delimiter=delimiter))
        if len(cells) != layout.width:
            return self._rejected(
                number, raw, Reason.SCHEMA, f"{len(cells)} columns, the header has {layout.width}"
            )
        device = cells[layout.device].strip()
        if not device:
            return self._rejected(number, raw, Reason.SCHEMA, "no device")
        try:
            ts_ns = parse_time(cells[layout.ts].strip())
        except ValueError as exc:
            return self._rejected(number, raw, Reason.SCHEMA, str(exc), device)
        values: dict[str, tuple[float, str | None]] = {}
        for column in layout.values:
            cell = cells[column.index].strip()
            if not cell:
                continue
            if layout.decimal_comma:
                cell = cell.translate(_SPACES).replace(",", ".")
            try:
                value = float(cell)
            except ValueError:
                return self._rejected(
                    number,
                    raw,
                    Reason.SCHEMA,
                    f"column {column.header!r}: {cell[:40]!r} is not a number",
                    device,
                )
            values[column.quantity] = (value, column.unit)
        if not values:
            return self._rejected(number, raw, Reason.SCHEMA, "no value in the row", device)
        return Row(number, raw, RawReading(device, ts_ns, values), None)
