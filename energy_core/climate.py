"""The climate contract (issue 16): a baseline year and a target path, per owner and city-wide.

Borlänge has committed to being climate-neutral by 2030 (Viable Cities' Klimatkontrakt 2030).
``CLIMATE_TARGETS_FILE`` (YAML; the shipped default is ``climate_targets.yaml`` next to this
module) says which year is the baseline, by when the emissions are to fall, and by how much:

    baseline_year: 2023        # the measured emissions of this local calendar year are the baseline
    target_year: 2030
    target_reduction_pct: 100  # 100: net zero (the measured energy's emissions)
    owners:                    # optional: an owner's own contract replaces the city's for it
      tunabyggen: {baseline_year: 2024, target_year: 2030, target_reduction_pct: 80}

The path is a straight line from the baseline year's emissions to the target year's
(baseline · (1 − pct/100)); after the target year it stays at the target. Each accounting
method (location, market) is compared with its own baseline: they are never added up.
Pure, no I/O besides reading the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_core.errors import ConfigError

DEFAULT_FILE = Path(__file__).with_name("climate_targets.yaml")


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    baseline_year: int = Field(ge=1990, le=2100)
    target_year: int = Field(ge=1990, le=2100)
    target_reduction_pct: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _order(self) -> Contract:
        if self.target_year <= self.baseline_year:
            raise ValueError("target_year must come after baseline_year")
        return self

    def target_kg(self, baseline_kg: float, year: int) -> float | None:
        """The path's value for ``year`` (None before the baseline year)."""
        if year < self.baseline_year:
            return None
        progress = min(1.0, (year - self.baseline_year) / (self.target_year - self.baseline_year))
        return baseline_kg * (1.0 - self.target_reduction_pct / 100.0 * progress)


class ClimateTargets(Contract):
    source: str = ""
    owners: dict[str, Contract] = Field(default_factory=dict)

    def for_owner(self, owner: str | None) -> Contract:
        """The owner's own contract, else the city's (``None``: the city)."""
        if owner is not None and owner in self.owners:
            return self.owners[owner]
        return Contract(
            baseline_year=self.baseline_year,
            target_year=self.target_year,
            target_reduction_pct=self.target_reduction_pct,
        )

    @classmethod
    def load(cls, path: Path | None = None) -> ClimateTargets:
        """Read the file (the shipped default when None); a mistake names CLIMATE_TARGETS_FILE and the key."""
        path = path or DEFAULT_FILE
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls.model_validate(raw or {})
        except OSError as exc:
            raise ConfigError(f"CLIMATE_TARGETS_FILE cannot be read: {exc.strerror}: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"CLIMATE_TARGETS_FILE is not valid YAML: {path}: {exc}".splitlines()[0]
            ) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"CLIMATE_TARGETS_FILE {path}: {where + ': ' if where else ''}{msg}") from None
