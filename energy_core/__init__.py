"""The shared kernel: the data contract, the asset registry, errors, settings, the InfluxDB client,
emission factors, the dead-letter store, logs. ``ingest``, ``api``, ``dashboards`` and ``simulators``
build on it; it imports none of them."""
