"""Daily analysis of the stored data (issues 15 and 16): substation KPIs and faults, building KPIs.

Layout of the results: :mod:`energy_core.analysis`. The model the pure rules work on:
:mod:`ingest.analysis.model`.
"""
