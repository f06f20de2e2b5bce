"""The fault rules' parameters: one pydantic model, read from a YAML file (docs/substations.md).

The shipped defaults live in ``fault_thresholds.yaml`` beside this module, each with its source;
``INGEST_FAULT_THRESHOLDS_FILE`` points to an operator's own copy. Every threshold is absolute
(a number of kelvin, °C or hours, not a rank among the substations), as Gadd & Werner (2015)
recommend. A mistake in the file is one line naming the setting and the key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_core.errors import ConfigError

DEFAULT_FILE = Path(__file__).with_name("fault_thresholds.yaml")
SETTING = "INGEST_FAULT_THRESHOLDS_FILE"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeatingSeason(_Section):
    """A day is in the heating season when the mean outdoor temperature of it and the
    ``running_days − 1`` days before is below ``outdoor_below_c``; without an outdoor temperature,
    when its month is one of ``months``."""

    outdoor_below_c: float = 12.0
    running_days: int = Field(default=7, ge=1, le=28)
    months: frozenset[int] = frozenset({1, 2, 3, 4, 5, 9, 10, 11, 12})

    @model_validator(mode="after")
    def _months_are_months(self) -> HeatingSeason:
        if any(not 1 <= m <= 12 for m in self.months):
            raise ValueError("months must be 1-12")
        return self

    def contains(self, day: dt.date, outdoor_c: float | None) -> bool:
        if outdoor_c is not None:
            return outdoor_c < self.outdoor_below_c
        return day.month in self.months


class KpiParams(_Section):
    target_delta_t_k: float = Field(default=40.0, gt=0)  # excess flow is measured against this ΔT
    min_flow_m3h: float = Field(default=0.005, ge=0)  # below this an hour counts as "no flow"
    signature_min_hours: float = Field(default=20.0, ge=0, le=25)  # a day needs this many hours to fit


class LowDeltaT(_Section):
    """The ΔT limit follows the outdoor temperature (the supply does) linearly between a mild and
    a cold point."""

    limit_mild_k: float = Field(default=17.0, gt=0)
    limit_cold_k: float = Field(default=30.0, gt=0)
    mild_outdoor_c: float = 8.0
    cold_outdoor_c: float = -20.0
    min_heat_kwh: float = Field(default=10.0, ge=0)  # a day with less heat says nothing about cooling
    min_hours: float = Field(default=6.0, ge=1, le=25)
    # The finding's text names a leaking bypass as the likely cause when the hourly ΔT follows the
    # load with at least this elasticity (rules.leak_elasticity), judged only on days whose low-load
    # hours carry at most max_load_ratio of the high-load hours' load.
    leak_elasticity: float = Field(default=0.2, gt=0, le=1)
    max_load_ratio: float = Field(default=0.9, gt=0, lt=1)

    @model_validator(mode="after")
    def _points_ordered(self) -> LowDeltaT:
        if self.cold_outdoor_c >= self.mild_outdoor_c:
            raise ValueError("cold_outdoor_c must be below mild_outdoor_c")
        return self

    def limit_k(self, outdoor_c: float | None) -> float:
        """The ΔT limit on a day with mean outdoor ``outdoor_c`` (None: the mild limit)."""
        return _between(
            outdoor_c, self.mild_outdoor_c, self.limit_mild_k, self.cold_outdoor_c, self.limit_cold_k
        )


class HighReturnTemp(_Section):
    """The return limit follows the outdoor temperature linearly between a mild and a cold point."""

    limit_mild_c: float = 51.0
    limit_cold_c: float = 65.0
    mild_outdoor_c: float = 10.0
    cold_outdoor_c: float = -20.0
    min_hours: float = Field(default=6.0, ge=1, le=25)

    @model_validator(mode="after")
    def _points_ordered(self) -> HighReturnTemp:
        if self.cold_outdoor_c >= self.mild_outdoor_c:
            raise ValueError("cold_outdoor_c must be below mild_outdoor_c")
        return self

    def limit_c(self, outdoor_c: float | None) -> float:
        """The return limit on a day with mean outdoor ``outdoor_c`` (None: the mild limit)."""
        return _between(
            outdoor_c, self.mild_outdoor_c, self.limit_mild_c, self.cold_outdoor_c, self.limit_cold_c
        )


def _between(outdoor_c: float | None, mild_c: float, at_mild: float, cold_c: float, at_cold: float) -> float:
    """Linear from ``at_mild`` (at ``mild_c`` and warmer) to ``at_cold`` (at ``cold_c`` and colder)."""
    if outdoor_c is None:
        return at_mild
    span = (mild_c - outdoor_c) / (mild_c - cold_c)
    return at_mild + (at_cold - at_mild) * min(1.0, max(0.0, span))


class StuckRegister(_Section):
    min_hours: int = Field(default=6, ge=1, le=72)
    min_flow_m3h: float = Field(default=0.01, ge=0)  # the flow that should move the registers
    # The registers' resolution: a run is stuck only if the meter's own power / flow say it should
    # have moved the register by more than this.
    energy_resolution_kwh: float = Field(default=1.0, ge=0)
    volume_resolution_m3: float = Field(default=0.01, ge=0)


class FrozenSensor(_Section):
    min_hours: int = Field(default=6, ge=2, le=72)
    tolerance_k: float = Field(default=0.0, ge=0)  # "constant": max − min within this
    min_load_variation: float = Field(default=0.1, ge=0)  # (max − min) / mean of the hourly loads


class SwappedTemperatures(_Section):
    min_hours: int = Field(default=3, ge=1, le=25)
    min_difference_k: float = Field(default=0.5, ge=0)  # return above supply by more than this
    min_flow_m3h: float = Field(default=0.01, ge=0)


class SilentMeter(_Section):
    k: float = Field(default=5.0, ge=1)  # silent after k × the usual reading interval …
    min_silence_h: float = Field(default=2.0, gt=0)  # … and never before this


class MeterAlarm(_Section):
    ignore_bits: frozenset[int] = frozenset()  # bit numbers (0–31) an operator chose not to hear

    @model_validator(mode="after")
    def _bits(self) -> MeterAlarm:
        if any(not 0 <= b <= 31 for b in self.ignore_bits):
            raise ValueError("ignore_bits must be 0-31")
        return self


class SignatureDeviation(_Section):
    band_pct: float = Field(default=25.0, gt=0)
    min_days: int = Field(default=3, ge=1, le=30)
    # A signature is a reference only when the history days inside its band scatter around it by
    # at most this (RMS of (heat − expected) / expected over at least min_reference_days days).
    max_scatter_pct: float = Field(default=10.0, gt=0)
    min_reference_days: int = Field(default=7, ge=2, le=366)
    min_deviation_kwh: float = Field(default=5.0, ge=0)  # per day: ignores percentages of tiny loads


class SummerBypass(_Section):
    max_delta_t_k: float = Field(default=15.0, gt=0)
    min_volume_m3: float = Field(default=0.1, ge=0)
    min_hours: float = Field(default=6.0, ge=1, le=25)
    hourly_max_delta_t_k: float = Field(default=10.0, gt=0)
    min_low_delta_t_hours: int = Field(default=3, ge=1, le=25)


class Thresholds(_Section):
    """Every rule's parameters; the defaults are the shipped file's."""

    version: int = 1
    heating_season: HeatingSeason = HeatingSeason()
    kpi: KpiParams = KpiParams()
    low_delta_t: LowDeltaT = LowDeltaT()
    high_return_temp: HighReturnTemp = HighReturnTemp()
    stuck_register: StuckRegister = StuckRegister()
    frozen_sensor: FrozenSensor = FrozenSensor()
    swapped_temperatures: SwappedTemperatures = SwappedTemperatures()
    silent_meter: SilentMeter = SilentMeter()
    meter_alarm: MeterAlarm = MeterAlarm()
    signature_deviation: SignatureDeviation = SignatureDeviation()
    summer_bypass: SummerBypass = SummerBypass()

    @classmethod
    def load(cls, path: Path | None = None) -> Thresholds:
        """Read the YAML file (the shipped defaults when ``path`` is None); ConfigError on a mistake."""
        path = path or DEFAULT_FILE
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{SETTING} cannot be read: {exc.strerror}: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{SETTING} is not valid YAML: {path}: {exc}".splitlines()[0]) from None
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{SETTING} {path}: the top level must be a mapping of rule names")
        try:
            return cls.model_validate(raw or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"{SETTING} {path}: {where}: {msg}") from None
