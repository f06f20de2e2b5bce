"""Emission factors for the live emission rate (kg CO2e/h = power_kW × g/kWh / 1000, SPEC §6).

One file format for the whole project: this reads ``EMISSION_FACTORS_FILE`` with ingest's own
loader (``energy_core.factors``), so the live rate and the stored ``emissions`` use the same
factors. The live rate uses location-based factors. They are annual accounting values, not
marginal effects: the rate says what the current heat load "costs" at the reported average,
not what one more kW would emit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from energy_core.factors import EmissionFactors


class FactorSource(Protocol):
    """Anything that can say which g CO2e/kWh applies to a carrier in a network at a time."""

    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None: ...


@dataclass(frozen=True, slots=True)
class LocationFactors:
    """Location-based factors: the site's network's own value, else the carrier's default area."""

    factors: EmissionFactors

    def factor_g_per_kwh(self, carrier: str, network: str | None, at_ns: int) -> float | None:
        area = self.factors.area_for(carrier, network)
        return self.factors.factor_at(carrier, area, "location", at_ns)


def load_factors(path: Path | None) -> FactorSource:
    """Read ``EMISSION_FACTORS_FILE`` (the shipped defaults when unset); mistakes raise ConfigError."""
    return LocationFactors(EmissionFactors.load(path))
