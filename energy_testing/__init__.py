"""Test against real services and a simulated city: the ``energy_testing`` pytest plugin.

Installing the package registers the plugin (entry point ``pytest11``); its fixtures are
documented in docs/testing.md and in :mod:`energy_testing.plugin`. This module imports nothing,
so ``deploy/local/services.py`` can run :mod:`energy_testing.services` with only the system's Python.
"""
