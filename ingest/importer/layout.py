"""Which column holds what: the documented header (``device``, ``ts``, ``energy[MWh]`` …) or a mapping file.

A header cell names a quantity of the native payload (:data:`energy_core.schema.QUANTITIES`:
``energy``, ``volume``, ``power``, ``flow``, ``supply_temp`` …), optionally followed by its unit
in square brackets (``energy[MWh]``, ``supply_temp[°C]``); without a unit the value is in the
quantity's canonical unit (``energy`` in kWh). Units are those live ingest accepts
(:mod:`ingest.units`). A column that is none of these refuses the file: use a mapping file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from energy_core.errors import ConfigError, PayloadError
from energy_core.schema import QUANTITIES
from ingest import units

MAX_COLUMNS = 64
DELIMITERS = (",", ";", "\t")


class ColumnMapping(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    quantity: str
    unit: str | None = None  # None: the quantity's canonical unit

    @field_validator("quantity")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in QUANTITIES:
            raise ValueError(f"{value!r} is not a quantity ({', '.join(QUANTITIES)})")
        return value


class MappingFile(BaseModel):
    """The ``--mapping`` YAML file: the export's own column names."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    device: str = Field(min_length=1)  # the column with the device id or an external id
    ts: str = Field(min_length=1)  # the column with the time
    columns: dict[str, ColumnMapping] = Field(min_length=1, max_length=MAX_COLUMNS)
    delimiter: Literal[",", ";", "\t"] | None = None  # None: sniffed from the header
    decimal_comma: bool | None = None  # None: accepted when the delimiter is ; or tab
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class Column:
    index: int
    header: str
    quantity: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each thing is in a row, and how the row is split."""

    delimiter: str
    decimal_comma: bool
    encoding: str
    width: int  # columns in the header: every row must have as many
    device: int
    ts: int
    values: tuple[Column, ...]


def load_mapping(path: Path) -> MappingFile:
    """Read and check a mapping file; a mistake raises ConfigError naming the key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        mapping = MappingFile.model_validate(raw or {})
    except OSError as exc:
        raise ConfigError(f"--mapping cannot be read: {exc.strerror}: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--mapping is not valid YAML: {path}: {exc}".splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"--mapping {path}: {where}: {str(err['msg']).removeprefix('Value error, ')}"
        ) from None
    for name, column in mapping.columns.items():
        _check_unit(column.quantity, column.unit, f"--mapping {path}: columns.{name}.unit")
    try:
        "".encode(mapping.encoding)
    except LookupError:
        raise ConfigError(
            f"--mapping {path}: encoding: {mapping.encoding!r} is not a known encoding"
        ) from None
    return mapping


def _check_unit(quantity: str, unit: str | None, where: str) -> None:
    try:
        units.convert(1.0, unit, QUANTITIES[quantity].unit)
    except PayloadError as exc:
        raise ConfigError(f"{where}: {exc.detail}") from None


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: the most frequent of ``,`` ``;`` tab (ties: that order)."""
    counts = [(header.count(d), -i, d) for i, d in enumerate(DELIMITERS)]
    count, _, delimiter = max(counts)
    if count == 0:
        raise ValueError(
            "the header has one column: expected device, ts and a quantity separated by , ; or tab"
        )
    return delimiter


def split_header(header: str, delimiter: str) -> list[str]:
    import csv

    return [cell.strip() for cell in next(csv.reader([header], delimiter=delimiter))]


def layout_of(header: str, where: str, mapping: MappingFile | None = None) -> Layout:
    """The layout of a file from its header line (BOM and newline removed); ConfigError when it is wrong.

    ``where`` names the file in the message.
    """
    try:
        delimiter = (
            mapping.delimiter if mapping is not None and mapping.delimiter else sniff_delimiter(header)
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    cells = split_header(header, delimiter)
    if len(cells) > MAX_COLUMNS:
        raise ConfigError(f"{where}: the header has {len(cells)} columns, at most {MAX_COLUMNS} are read")
    seen: set[str] = set()
    for cell in cells:
        if cell in seen:
            raise ConfigError(f"{where}: column {cell!r} appears twice in the header")
        seen.add(cell)
    decimal_comma = delimiter != ","
    if mapping is not None and mapping.decimal_comma is not None:
        if mapping.decimal_comma and delimiter == ",":
            raise ConfigError(f"{where}: decimal_comma needs a ; or tab delimiter, the file uses ,")
        decimal_comma = mapping.decimal_comma
    encoding = mapping.encoding if mapping is not None else "utf-8"
    if mapping is not None:
        device_name, ts_name = mapping.device, mapping.ts
        wanted = {mapping.device: "device", mapping.ts: "ts", **{name: name for name in mapping.columns}}
        missing = [name for name in wanted if name not in seen]
        if missing:
            raise ConfigError(
                f"{where}: the mapping's column {missing[0]!r} is not in the header {cells!r:.200}"
            )
        values = tuple(
            Column(cells.index(name), name, column.quantity, column.unit)
            for name, column in mapping.columns.items()
        )
    else:
        device_name, ts_name = "device", "ts"
        columns: list[Column] = []
        for index, cell in enumerate(cells):
            if cell in ("device", "ts"):
                continue
            quantity, unit = _quantity_header(cell, where)
            columns.append(Column(index, cell, quantity, unit))
        for name in ("device", "ts"):
            if name not in seen:
                raise ConfigError(f"{where}: the header has no {name!r} column (or give --mapping)")
        values = tuple(columns)
        if not values:
            raise ConfigError(f"{where}: the header names no quantity column (energy, volume, power …)")
    quantities = [c.quantity for c in values]
    for quantity in quantities:
        if quantities.count(quantity) > 1:
            raise ConfigError(f"{where}: quantity {quantity!r} has more than one column")
    return Layout(
        delimiter, decimal_comma, encoding, len(cells), cells.index(device_name), cells.index(ts_name), values
    )


def _quantity_header(cell: str, where: str) -> tuple[str, str | None]:
    """``energy[MWh]`` → (``energy``, ``MWh``); ``energy`` → (``energy``, None)."""
    name, unit = cell, None
    if cell.endswith("]") and "[" in cell:
        name, _, rest = cell.partition("[")
        name, unit = name.strip(), rest[:-1].strip() or None
    if name not in QUANTITIES:
        raise ConfigError(
            f"{where}: column {cell!r} is not device, ts or a quantity such as energy[MWh] "
            f"({', '.join(QUANTITIES)}); for other exports give --mapping"
        )
    _check_unit(name, unit, f"{where}: column {cell!r}")
    return name, unit
