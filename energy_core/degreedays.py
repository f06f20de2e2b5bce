"""Degree days, the normal year and the weather-independent part of heat (issue 16; docs/buildings.md).

Degree days (graddagar) of a day with mean outdoor temperature ``T``: ``max(0, balance − T)``,
balance +17 °C as SMHI's. Two rules (:data:`Rule`):

- ``"smhi"``: every day counts. SMHI computes its degree days so since 1 January 2015, when it
  dropped the heating limits and moved the normal period to 1981–2010 (Energi & Miljö,
  "SMHI ändrar graddagsperiod", December 2014).
- ``"smhi_before_2015"``: SMHI's older rule, for comparisons with old tables: from April to
  October a day counts only when its mean is at or below a month's heating limit
  (eldningsgräns, for the sun's contribution): April +12, May–July +10, August +11,
  September +12, October +13 °C (sv.wikipedia.org "Graddagar"; Härnösand Energi & Miljö,
  "Förklaring graddagar": "Tidigare tröskeltemperaturer").

The normal year gives each calendar day its normal degree days: from the operator's file
(``NORMAL_YEAR_FILE``, :func:`load_normal_year`) or derived from a station's own history
(:func:`derive_normal`). The weather-independent part of a day's heat comes from the
building's energy signature, fitted at the balance temperature, or from its summer base
load (:func:`weather_independent_kwh`). Pure: no I/O but reading the normal-year file.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_core import signature
from energy_core.errors import ConfigError

BALANCE_C = 17.0  # SMHI
Rule = Literal["smhi", "smhi_before_2015"]
RULES: tuple[Rule, ...] = ("smhi", "smhi_before_2015")
HEATING_LIMITS_BEFORE_2015: dict[int, float] = {
    4: 12.0,
    5: 10.0,
    6: 10.0,
    7: 10.0,
    8: 11.0,
    9: 12.0,
    10: 13.0,
}
"""Month → the highest daily mean (°C) that still gave degree days under SMHI's rule before 2015."""

DEFAULT_NORMAL_MIN_YEARS = 3  # docs/buildings.md: how many years a derived normal needs
CalendarDay = tuple[int, int]  # (month, day); (2, 29) included


def degree_days(mean_c: float, day: dt.date, *, balance_c: float = BALANCE_C, rule: Rule = "smhi") -> float:
    """The degree days of ``day`` with daily mean outdoor temperature ``mean_c``."""
    if rule == "smhi_before_2015":
        limit = HEATING_LIMITS_BEFORE_2015.get(day.month)
        if limit is not None and mean_c > limit:
            return 0.0
    return max(0.0, balance_c - mean_c)


def _calendar_days() -> tuple[CalendarDay, ...]:
    start = dt.date(2000, 1, 1)  # a leap year: every calendar day once
    return tuple(
        ((start + dt.timedelta(days=i)).month, (start + dt.timedelta(days=i)).day) for i in range(366)
    )


CALENDAR_DAYS = _calendar_days()


def calendar_day(day: dt.date) -> CalendarDay:
    return (day.month, day.day)


@dataclass(frozen=True, slots=True)
class NormalYear:
    """Normal degree days per station site and calendar day (29 February: 28 February's value)."""

    stations: Mapping[str, Mapping[CalendarDay, float]]

    def normal_of(self, station: str, day: dt.date) -> float | None:
        days = self.stations.get(station)
        if days is None:
            return None
        key = (2, 28) if (day.month, day.day) == (2, 29) else calendar_day(day)
        return days.get(key)


# -- the operator's file -----------------------------------------------------------------------


class _StationNormal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    monthly_degree_days: tuple[float, ...] | None = None  # 12 values, January first
    daily_degree_days: tuple[float, ...] | None = None  # 365 values, 1 January first
    monthly_mean_temp_c: tuple[float, ...] | None = None
    daily_mean_temp_c: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _one_series(self) -> _StationNormal:
        given = [(k, v) for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of monthly_degree_days, daily_degree_days, monthly_mean_temp_c,"
                " daily_mean_temp_c"
            )
        key, values = given[0]
        expected = 12 if key.startswith("monthly") else 365
        if len(values) != expected:
            raise ValueError(f"{key} needs {expected} values, got {len(values)}")
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"{key} holds a value that is not a number")
        if key.endswith("degree_days") and any(v < 0 for v in values):
            raise ValueError(f"{key} holds a negative value")
        if key.endswith("temp_c") and any(not -60 <= v <= 60 for v in values):
            raise ValueError(f"{key} holds a temperature outside -60…60 °C")
        return self


class _NormalYearFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    balance_c: float = Field(default=BALANCE_C, ge=-10, le=30)  # the degree days' balance
    stations: dict[str, _StationNormal] = Field(min_length=1)


def _per_calendar_day(series: _StationNormal, *, balance_c: float, rule: Rule) -> dict[CalendarDay, float]:
    out: dict[CalendarDay, float] = {}
    non_leap = [(m, d) for m, d in CALENDAR_DAYS if (m, d) != (2, 29)]
    for index, (month, day) in enumerate(non_leap):
        date = dt.date(2001, month, day)
        if series.monthly_degree_days is not None:
            value = series.monthly_degree_days[month - 1] / calendar.monthrange(2001, month)[1]
        elif series.daily_degree_days is not None:
            value = series.daily_degree_days[index]
        elif series.monthly_mean_temp_c is not None:
            value = degree_days(series.monthly_mean_temp_c[month - 1], date, balance_c=balance_c, rule=rule)
        else:
            assert series.daily_mean_temp_c is not None  # the validator leaves exactly one
            value = degree_days(series.daily_mean_temp_c[index], date, balance_c=balance_c, rule=rule)
        out[(month, day)] = value
    out[(2, 29)] = out[(2, 28)]
    return out


def load_normal_year(path: Path, *, balance_c: float = BALANCE_C, rule: Rule = "smhi") -> NormalYear:
    """Read ``NORMAL_YEAR_FILE`` (YAML or TOML); a mistake raises ConfigError naming the key.

    Degree days in the file must have been computed at ``balance_c`` (the file says at which,
    ``balance_c``, default 17); mean temperatures are turned into degree days here.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        parsed = _NormalYearFile.model_validate(raw or {})
    except OSError as exc:
        raise ConfigError(f"NORMAL_YEAR_FILE cannot be read: {exc.strerror}: {path}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"NORMAL_YEAR_FILE is not valid YAML/TOML: {path}: {exc}".splitlines()[0]) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"NORMAL_YEAR_FILE {path}: {where + ': ' if where else ''}{message}") from None
    for name, series in parsed.stations.items():
        in_degree_days = series.monthly_degree_days is not None or series.daily_degree_days is not None
        if in_degree_days and abs(parsed.balance_c - balance_c) > 1e-9:
            raise ConfigError(
                f"NORMAL_YEAR_FILE {path}: stations.{name}: degree days at balance_c {parsed.balance_c:g}"
                f" but BUILDING_BALANCE_C is {balance_c:g} (give mean temperatures, or degree days at"
                f" {balance_c:g})"
            )
    return NormalYear(
        {name: _per_calendar_day(s, balance_c=balance_c, rule=rule) for name, s in parsed.stations.items()}
    )


# -- a normal derived from a station's own history -------------------------------------------------


def derive_normal(
    daily_means: Mapping[dt.date, float],
    *,
    balance_c: float = BALANCE_C,
    rule: Rule = "smhi",
    min_years: int = DEFAULT_NORMAL_MIN_YEARS,
) -> dict[CalendarDay, float]:
    """Normal degree days per calendar day: the mean over the stored years of that day's degree days.

    A calendar day with fewer than ``min_years`` stored years has no normal (absent); 29
    February takes 28 February's normal (few years hold it).
    """
    per_day: dict[CalendarDay, list[float]] = defaultdict(list)
    for day, mean_c in daily_means.items():
        if math.isfinite(mean_c):
            per_day[calendar_day(day)].append(degree_days(mean_c, day, balance_c=balance_c, rule=rule))
    out = {key: math.fsum(v) / len(v) for key, v in per_day.items() if len(v) >= min_years and key != (2, 29)}
    if (2, 28) in out:
        out[(2, 29)] = out[(2, 28)]
    return out


# -- the weather-independent part --------------------------------------------------------------------

BaseSource = Literal["signature", "summer"]
SIGNATURE_MIN_R2 = 0.5  # a worse fit says little about the building's base: use its summer base load
SUMMER_MIN_DAYS = signature.MIN_DAYS


@dataclass(frozen=True, slots=True)
class Base:
    """The weather-independent heat of one day (kWh) and where it came from."""

    kwh: float
    source: BaseSource
    fit: signature.Signature | None = None


def weather_independent_kwh(
    days: Sequence[tuple[float, float, float]], *, balance_c: float = BALANCE_C
) -> Base | None:
    """The daily base heat from ``(outdoor_c, heat_kwh, degree_days)`` days of a trailing window.

    The building's energy signature fitted AT the balance temperature of the degree days
    (so heat = base + slope · 24 · degree days exactly when the building follows it, which is
    what makes the degree-day normalisation exact: docs/buildings.md): ``base_kw · 24``.
    Without a signature (too few days, no spread in weather, R² < 0.5), the summer base load:
    the mean heat of the days without degree days (at least 7 of them). None otherwise.
    """
    points = [(t, kwh / 24.0) for t, kwh, _ in days]
    fit = signature.fit(points, balance_grid=(balance_c,))
    if fit is not None and fit.r2 >= SIGNATURE_MIN_R2:
        return Base(max(0.0, fit.base_kw * 24.0), "signature", fit)
    summer = [kwh for _, kwh, dd in days if dd <= 0.0]
    if len(summer) >= SUMMER_MIN_DAYS:
        return Base(math.fsum(summer) / len(summer), "summer")
    return None
