"""Derived quantities: thermal power, interval energy from registers, and emissions.

- :mod:`ingest.derive.water`: ρ·c_p of water (IAPWS-IF97 table)
- :mod:`ingest.derive.power`: P = q·ρ(T)·c_p(T)·ΔT
- :mod:`ingest.derive.energy`: interval energy, order-independent
- :mod:`ingest.derive.state`: its history persisted in SQLite
- :mod:`energy_core.factors`: emission factors and interval emissions
- :mod:`ingest.derive.deriver`: the pipeline's derive step
- :mod:`ingest.derive.backfill`: recompute ``energy``/``emissions`` from stored registers
"""
