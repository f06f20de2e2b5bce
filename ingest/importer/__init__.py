"""History import (issue 16): ``python -m ingest import FILE… [--mapping FILE] [--dry-run]``.

    CSV file ──► rows (bounded lines, sniffed delimiter) ──► RawReading ──► Normaliser (the live one)
        ──► thermal power (the live Deriver) ──► InfluxDB ──► backfill per meter ──► roll-ups of the days

- :mod:`ingest.importer.layout`: which column is the device, the time and each quantity (the
  documented header, or a YAML mapping file for other exports).
- :mod:`ingest.importer.rows`: the file read line by line, each line bounded before it is parsed.
- :mod:`ingest.importer.runner`: the import itself, its progress line and its summary.

docs/import.md is the user's guide.
"""
