"""Emission factors for the live emission rate (kg CO2e/h = power_kW × g/kWh / 1000, SPEC §6).

MERGE NOTE: this is the API's only dependency on emission factors, isolated here on purpose.
The derivations work (issue 5) ships the real ``EMISSION_FACTORS_FILE`` loader in ``ingest``;
when it lands, replace ``load_factors`` with a thin adapter over that loader that returns an
object with the same ``factor_g_per_kwh(carrier, network, at_ns)`` method (``FactorSource``).

Until then this reads a minimal YAML/TOML form of that file::

    factors:
      - carrier: district_heat      # or electricity
        network: borlange           # or zone: SE3; neither = any network
        method: location            # the live rate uses location-based factors
        g_per_kwh: 54.9
        valid_from: 2022-01-01      # optional; valid_to optional (exclusive)
        source: "Västerås 2022, Energiföretagen via Miljöbarometern"

The factors are annual accounting values, not marginal effects: the live rate says what the
current heat load "costs" at the reported average, not what one more kW would emit.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.errors import ConfigError


class FactorSource(Protocol):
    """Anything that can say which g CO2e/kWh applies to a carrier in a network at a time."""

    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None: ...


class _Factor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    carrier: str
    network: str | None = None
    zone: str | None = None
    method: Literal["location", "market"] = "location"
    g_per_kwh: float = Field(ge=0)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    source: str = ""


class _FactorFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    factors: tuple[_Factor, ...] = ()


def _ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


@dataclass(frozen=True, slots=True)
class FactorTable:
    """Location-based factors; the most specific match wins (a network's own value over "any")."""

    factors: tuple[_Factor, ...]

    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None:
        best: tuple[int, int, float] | None = None
        for f in self.factors:
            if f.carrier != carrier or f.method != "location":
                continue
            where = f.network or f.zone
            if where is not None and where != network:
                continue
            if f.valid_from and at_ns < _ns(f.valid_from):
                continue
            if f.valid_to and at_ns >= _ns(f.valid_to):
                continue
            rank = (1 if where else 0, _ns(f.valid_from) if f.valid_from else 0, 0)
            if best is None or rank[:2] > best[:2]:
                best = (rank[0], rank[1], f.g_per_kwh)
        return best[2] if best else None


def load_factors(path: Path | None) -> FactorSource:
    """Read ``EMISSION_FACTORS_FILE``; without one no factor is known and the rate is reported null."""
    if path is None:
        return FactorTable(())
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        return FactorTable(_FactorFile.model_validate(raw or {}).factors)
    except OSError as exc:
        raise ConfigError(f"EMISSION_FACTORS_FILE cannot be read: {exc.strerror}: {path}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError):
        raise ConfigError(f"EMISSION_FACTORS_FILE is not valid YAML/TOML: {path}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"EMISSION_FACTORS_FILE {path}: {where}: {err['msg']}") from None
