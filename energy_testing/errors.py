"""Errors of the test harness (stdlib only, like :mod:`energy_testing.services`: the root,
:class:`energy_core.errors.EnergyError`, imports nothing but the standard library)."""

from __future__ import annotations

from energy_core.errors import EnergyError


class NotInstalled(EnergyError, RuntimeError):
    """Raised when a service binary (``mosquitto``, ``influxd``) cannot be found.

    Its message is one line naming the Debian package to install.
    """

    def __init__(self, binary: str, package: str, detail: str) -> None:
        self.binary = binary
        self.package = package
        super().__init__(f"{binary} not found ({detail}): apt-get install {package}")
