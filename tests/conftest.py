"""The suite's fixtures come from the package's own pytest plugin, ``energy_testing.plugin``
(enabled by its ``pytest11`` entry point): ``services`` (one real Mosquitto and one real InfluxDB
per session, on free loopback ports), ``isolated`` (a test's own topic prefix and database),
``ingest``, ``api`` and ``city``; and the sweeps that stop every child process a test leaves.

Modules import what they need from where it lives: the local services from
``energy_testing.services``, ``Isolation``/``Services``/``as_number`` from ``energy_testing.world``,
``ROOT`` and the polling helpers from ``tests.helpers``.
"""
