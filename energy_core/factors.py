"""Emission factors (``EMISSION_FACTORS_FILE``) and the emissions of an interval of energy (SPEC §6).

A factor applies to one carrier in one area (a district-heating ``network`` or an electricity
bidding ``zone``) for one accounting ``method`` over a validity period. Hourly series read from
CSV override the annual values for the hours they cover.

An interval of energy (between two register readings) that spans a change of factor — an hour
boundary of an hourly series, or the end of one annual validity and the start of the next — is
split pro rata by time: the meter's power is assumed constant between its two readings, so each
part of the interval gets the energy share of its duration and that part's factor.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path
from typing import Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_core.errors import ConfigError
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY
from energy_core.timeutil import HOUR_NS, datetime_ns

DEFAULT_FILE = Path(__file__).with_name("emission_factors.yaml")
_FOREVER_NS = 2**63 - 1

Carrier = Literal["district_heat", "electricity"]
Method = Literal["location", "market"]


def _to_ns(moment: dt.date | dt.datetime) -> int:
    """A date is midnight UTC; a datetime without an offset is UTC."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
    return datetime_ns(moment, naive=dt.UTC)


class _Scoped(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    carrier: Carrier
    network: str | None = None
    zone: str | None = None
    method: Method
    source: str = Field(min_length=1)
    # A stand-in value (not the supplier's or the grid's own figure): flagged wherever it is shown.
    placeholder: bool = False

    @model_validator(mode="after")
    def _one_area(self) -> _Scoped:
        if (self.network is None) == (self.zone is None):
            raise ValueError("give exactly one of network (district heating) or zone (electricity)")
        return self

    @property
    def area(self) -> str:
        return self.network or self.zone or ""


class AnnualFactor(_Scoped):
    valid_from: dt.date | dt.datetime
    valid_to: dt.date | dt.datetime | None = None  # exclusive; None: until a later entry replaces it
    g_co2e_per_kwh: float = Field(ge=0, le=5000)


class HourlySeriesRef(_Scoped):
    csv: Path
    # "electricitymaps": the file is an Electricity Maps hourly CSV export (read_electricitymaps_csv);
    # ``intensity`` picks its column: "direct" (GHG Protocol Scope 2, location-based) or "lifecycle".
    format: Literal["hourly", "electricitymaps"] = "hourly"
    intensity: Literal["direct", "lifecycle"] = "direct"


class FactorsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    defaults: dict[Carrier, str]
    factors: tuple[AnnualFactor, ...] = ()
    hourly: tuple[HourlySeriesRef, ...] = ()


class FactorNote(NamedTuple):
    """What stands behind a factor: its value at an instant, its source, and whether it is a stand-in."""

    carrier: str
    area: str
    method: str
    g_co2e_per_kwh: float | None  # None: an hourly series (no single value)
    source: str
    placeholder: bool


class IntervalEmissions(NamedTuple):
    """The emissions of one interval of energy under one accounting method (hot path: a NamedTuple)."""

    method: str
    co2e_kg: float
    factor_g_per_kwh: float  # energy-weighted over the interval


_Key = tuple[str, str, str]  # carrier, area, method


class EmissionFactors:
    """Factor lookups by carrier, area, method and time; built once, read on the hot path."""

    def __init__(
        self,
        annual: dict[_Key, list[tuple[int, int, float]]],
        hourly: dict[_Key, dict[int, float]],
        defaults: dict[str, str],
        version: str = "",
        notes: dict[_Key, list[tuple[int, int, str, bool]]] | None = None,
    ) -> None:
        self.version = version
        # (start, end, source, placeholder) per key: annual periods, and (0, forever) for a series
        self._notes = notes or {}
        self._annual = {key: sorted(periods) for key, periods in annual.items()}
        self._hourly = hourly
        self._defaults = defaults
        methods: dict[tuple[str, str], set[str]] = {}
        for carrier, area, method in (*annual, *hourly):
            methods.setdefault((carrier, area), set()).add(method)
        self._methods = {scope: tuple(sorted(found)) for scope, found in methods.items()}
        for key, periods in self._annual.items():
            for (_, end, _), (start, _, _) in itertools.pairwise(periods):
                if start < end:
                    raise ConfigError(f"EMISSION_FACTORS_FILE: overlapping validity periods for {key}")

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> EmissionFactors:
        """Read the YAML file (the shipped default when ``path`` is None) and its hourly CSVs."""
        path = path or DEFAULT_FILE
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = FactorsFile.model_validate(raw or {})
        except OSError as exc:
            raise ConfigError(f"EMISSION_FACTORS_FILE cannot be read: {exc.strerror}: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"EMISSION_FACTORS_FILE is not valid YAML: {path}: {exc}".splitlines()[0]
            ) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"EMISSION_FACTORS_FILE {path}: {where}: {msg}") from None
        annual: dict[_Key, list[tuple[int, int, float]]] = {}
        notes: dict[_Key, list[tuple[int, int, str, bool]]] = {}
        for entry in parsed.factors:
            start = _to_ns(entry.valid_from)
            end = _FOREVER_NS if entry.valid_to is None else _to_ns(entry.valid_to)
            if end <= start:
                raise ConfigError(
                    f"EMISSION_FACTORS_FILE {path}: valid_to before valid_from for {entry.area}"
                )
            annual.setdefault((entry.carrier, entry.area, entry.method), []).append(
                (start, end, entry.g_co2e_per_kwh)
            )
            notes.setdefault((entry.carrier, entry.area, entry.method), []).append(
                (start, end, entry.source.strip(), entry.placeholder)
            )
        # An open-ended period ends where the next one of the same key starts.
        for periods in annual.values():
            periods.sort()
            for i, (start, end, factor) in enumerate(periods[:-1]):
                if end == _FOREVER_NS:
                    periods[i] = (start, periods[i + 1][0], factor)
        hourly: dict[_Key, dict[int, float]] = {}
        for ref in parsed.hourly:
            csv_path = ref.csv if ref.csv.is_absolute() else path.parent / ref.csv
            if ref.format == "electricitymaps":
                series = read_electricitymaps_csv(csv_path, ref.area, ref.intensity)
            else:
                series = read_hourly_csv(csv_path)
            hourly.setdefault((ref.carrier, ref.area, ref.method), {}).update(series)
            notes.setdefault((ref.carrier, ref.area, ref.method), []).insert(
                0, (0, _FOREVER_NS, ref.source.strip(), ref.placeholder)
            )
        for spans in notes.values():
            spans.sort()
            for i, (begin, until, source, flag) in enumerate(spans[:-1]):
                if until == _FOREVER_NS and begin != 0:
                    spans[i] = (begin, spans[i + 1][0], source, flag)
        defaults: dict[str, str] = {str(k): v for k, v in parsed.defaults.items()}
        return cls(annual, hourly, defaults, parsed.version, notes)

    # -- lookups ----------------------------------------------------------------------------

    def area_for(self, carrier: str, network: str | None) -> str:
        """The area whose factors apply: the site's DH network when it has factors, else the default."""
        if carrier == CARRIER_DISTRICT_HEAT and network and (carrier, network) in self._methods:
            return network
        return self._defaults.get(carrier, "")

    def methods(self, carrier: str, area: str) -> tuple[str, ...]:
        return self._methods.get((carrier, area), ())

    def note(self, carrier: str, area: str, method: str, ts_ns: int) -> FactorNote | None:
        """The factor in force at ``ts_ns``, its source and placeholder flag (None: no factor then).

        An hourly series' note comes first where it has a value for that hour, else the annual one's."""
        key = (carrier, area, method)
        found: FactorNote | None = None
        for start, end, source, placeholder in self._notes.get(key, ()):
            if start == 0 and end == _FOREVER_NS and key in self._hourly:
                if ts_ns // HOUR_NS in self._hourly[key]:
                    return FactorNote(carrier, area, method, None, source, placeholder)
                continue
            if start <= ts_ns < end:
                found = FactorNote(
                    carrier, area, method, self.factor_at(carrier, area, method, ts_ns), source, placeholder
                )
        return found

    def factor_at(self, carrier: str, area: str, method: str, ts_ns: int) -> float | None:
        """g CO2e/kWh at an instant: the hourly series' value for that hour, else the annual value."""
        key = (carrier, area, method)
        series = self._hourly.get(key)
        if series is not None:
            value = series.get(ts_ns // HOUR_NS)
            if value is not None:
                return value
        for start, end, factor in self._annual.get(key, ()):
            if start <= ts_ns < end:
                return factor
        return None

    def _next_change_ns(self, key: _Key, ts_ns: int) -> int:
        """The first instant after ``ts_ns`` at which the factor of ``key`` may change."""
        change = _FOREVER_NS
        if key in self._hourly:
            change = (ts_ns // HOUR_NS + 1) * HOUR_NS
        for start, end, _ in self._annual.get(key, ()):
            if start > ts_ns:
                change = min(change, start)
                break
            if end > ts_ns:
                change = min(change, end)
        return change

    def interval_emissions(
        self, carrier: str, area: str, start_ns: int, end_ns: int, kwh: float
    ) -> list[IntervalEmissions]:
        """Emissions of ``kwh`` used over [start_ns, end_ns), one per method with a factor throughout.

        A method that has no factor for some part of the interval is left out (no guessing).
        """
        out: list[IntervalEmissions] = []
        duration = end_ns - start_ns
        for method in self._methods.get((carrier, area), ()):
            key = (carrier, area, method)
            if key not in self._hourly:  # fast path: one annual period covers the whole interval
                factor = self._single_period_factor(key, start_ns, end_ns)
                if factor is not None:
                    out.append(IntervalEmissions(method, kwh * factor / 1000.0, factor))
                    continue
            grams = 0.0
            cursor = start_ns
            while cursor < end_ns:
                factor = self.factor_at(carrier, area, method, cursor)
                if factor is None:
                    break
                part_end = min(end_ns, self._next_change_ns(key, cursor))
                share = (part_end - cursor) / duration if duration > 0 else 1.0
                grams += kwh * share * factor
                cursor = part_end
            else:
                if duration <= 0:  # a zero-length interval: the factor at its instant
                    factor = self.factor_at(carrier, area, method, start_ns)
                    if factor is None:
                        continue
                    grams = kwh * factor
                effective = grams / kwh if kwh else self._time_weighted(key, start_ns, end_ns)
                out.append(IntervalEmissions(method, grams / 1000.0, effective))
        return out

    def _single_period_factor(self, key: _Key, start_ns: int, end_ns: int) -> float | None:
        for start, end, factor in self._annual.get(key, ()):
            if start <= start_ns and end_ns <= end:
                return factor
        return None

    def _time_weighted(self, key: _Key, start_ns: int, end_ns: int) -> float:
        """The factor of an interval without energy: its time-weighted mean (for display only)."""
        carrier, area, method = key
        if end_ns <= start_ns:
            return self.factor_at(carrier, area, method, start_ns) or 0.0
        total = 0.0
        cursor = start_ns
        while cursor < end_ns:
            part_end = min(end_ns, self._next_change_ns(key, cursor))
            total += (self.factor_at(carrier, area, method, cursor) or 0.0) * (part_end - cursor)
            cursor = part_end
        return total / (end_ns - start_ns)


def read_hourly_csv(path: Path) -> dict[int, float]:
    """An hourly CSV (``hour_start,g_co2e_per_kwh``) as {hour index since the epoch: factor}."""
    series: dict[int, float] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"hour_start", "g_co2e_per_kwh"} <= set(reader.fieldnames):
                raise ConfigError(
                    f"EMISSION_FACTORS_FILE hourly csv {path}: header must be hour_start,g_co2e_per_kwh"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    moment = dt.datetime.fromisoformat(row["hour_start"].strip())
                    factor = float(row["g_co2e_per_kwh"])
                except (ValueError, AttributeError):
                    raise ConfigError(
                        f"EMISSION_FACTORS_FILE hourly csv {path} line {line}: bad value"
                    ) from None
                if moment.tzinfo is None:
                    raise ConfigError(
                        f"EMISSION_FACTORS_FILE hourly csv {path} line {line}: hour_start needs a UTC offset"
                    )
                ts_ns = _to_ns(moment)
                if ts_ns % HOUR_NS or not 0 <= factor <= 5000:
                    raise ConfigError(
                        f"EMISSION_FACTORS_FILE hourly csv {path} line {line}: "
                        "hour_start not on the hour, or factor out of range"
                    )
                series[ts_ns // HOUR_NS] = factor
    except OSError as exc:
        raise ConfigError(
            f"EMISSION_FACTORS_FILE hourly csv cannot be read: {exc.strerror}: {path}"
        ) from None
    return series


# Electricity Maps' CSV exports (app.electricitymaps.com data portal / datasets), header names folded
# to lower case with ₂ as 2: the 2021-2023 portal files say "Carbon Intensity gCO₂eq/kWh (direct)" and
# "… (LCA)" (or "(life cycle assessment)"), later files "Carbon intensity gCO₂eq/kWh (direct)" and
# "… (Life cycle)"; both have "Datetime (UTC)" and "Zone Id" / "Zone id".
_EM_TIME = "datetime (utc)"
_EM_ZONE = "zone id"
_EM_INTENSITY: dict[str, tuple[str, ...]] = {
    "direct": ("carbon intensity gco2eq/kwh (direct)",),
    "lifecycle": (
        "carbon intensity gco2eq/kwh (lca)",
        "carbon intensity gco2eq/kwh (life cycle assessment)",
        "carbon intensity gco2eq/kwh (life cycle)",
    ),
}


def _em_header(name: str) -> str:
    return " ".join(name.replace("₂", "2").lower().split())


def read_electricitymaps_csv(path: Path, zone: str, intensity: str = "direct") -> dict[int, float]:
    """An Electricity Maps hourly CSV export as {hour index since the epoch: g CO2e/kWh}.

    ``Datetime (UTC)`` is the hour's start (UTC when it carries no offset); every row's ``Zone Id``
    must be ``zone`` or end with ``-`` + ``zone`` (``SE-SE3`` for ``SE3``); an empty intensity cell
    leaves that hour to the annual factor. A daily or monthly export is refused (not on the hour).
    """
    where = f"EMISSION_FACTORS_FILE electricitymaps csv {path}"
    series: dict[int, float] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [_em_header(cell) for cell in next(reader, [])]
            wanted = next((name for name in _EM_INTENSITY[intensity] if name in header), None)
            if _EM_TIME not in header or _EM_ZONE not in header or wanted is None:
                raise ConfigError(
                    f"{where}: header must have Datetime (UTC), Zone Id and the {intensity} "
                    "Carbon Intensity gCO₂eq/kWh column"
                )
            at, zone_at, value_at = header.index(_EM_TIME), header.index(_EM_ZONE), header.index(wanted)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    moment = dt.datetime.fromisoformat(row[at].strip())
                    text = row[value_at].strip()
                    factor = float(text) if text else None
                    row_zone = row[zone_at].strip()
                except (ValueError, IndexError):
                    raise ConfigError(f"{where} line {line}: bad value") from None
                if row_zone != zone and not row_zone.endswith("-" + zone):
                    raise ConfigError(f"{where} line {line}: zone {row_zone!r} is not {zone!r}")
                ts_ns = _to_ns(moment)
                if ts_ns % HOUR_NS:
                    raise ConfigError(f"{where} line {line}: not on the hour (the export must be hourly)")
                if factor is None:
                    continue
                if not 0 <= factor <= 5000:
                    raise ConfigError(f"{where} line {line}: factor out of range")
                series[ts_ns // HOUR_NS] = factor
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    return series


def emission_rate_kg_per_h(power_kw: float, factor_g_per_kwh: float) -> float:
    """Live emission rate: kW × g/kWh = g/h, / 1000 → kg/h (SPEC §6)."""
    return power_kw * factor_g_per_kwh / 1000.0


def live_emission_rates(
    factors: EmissionFactors, carrier: str, network: str | None, power_kw: float, ts_ns: int
) -> dict[str, float]:
    """kg CO2e/h per method for a device drawing ``power_kw`` now (for the API's live view)."""
    area = factors.area_for(carrier, network)
    rates: dict[str, float] = {}
    for method in factors.methods(carrier, area):
        factor = factors.factor_at(carrier, area, method, ts_ns)
        if factor is not None:
            rates[method] = emission_rate_kg_per_h(power_kw, factor)
    return rates


__all__ = [
    "CARRIER_DISTRICT_HEAT",
    "CARRIER_ELECTRICITY",
    "DEFAULT_FILE",
    "EmissionFactors",
    "IntervalEmissions",
    "emission_rate_kg_per_h",
    "live_emission_rates",
    "read_electricitymaps_csv",
    "read_hourly_csv",
]
