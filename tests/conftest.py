"""The suite's fixtures come from the package's own pytest plugin, ``energy_testing.plugin``
(enabled by its ``pytest11`` entry point): ``services`` (one real Mosquitto and one real InfluxDB
per session, on free loopback ports), ``isolated`` (a test's own topic prefix and database),
``ingest``, ``api`` and ``city``; and the sweeps that stop every child process a test leaves.

The names below are re-exported for the suite's modules that import them from here.
"""

from __future__ import annotations

from pathlib import Path

from energy_testing import services as local_services
from energy_testing.world import Isolation, Services, as_number

ROOT = Path(__file__).resolve().parent.parent
# Also for scripts that import the suite's helpers outside pytest (tests/integration/test_harness.py).
local_services.die_with_this_process()

__all__ = ["ROOT", "Isolation", "Services", "as_number", "local_services"]
