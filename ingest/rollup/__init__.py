"""Roll-up maintenance (issue 14): the layout is :mod:`energy_core.rollups`; docs/rollups.md."""

from ingest.rollup.maintainer import RollupMaintainer, RollupMetrics
from ingest.rollup.roller import Roller, RollReport

__all__ = ["RollReport", "Roller", "RollupMaintainer", "RollupMetrics"]
