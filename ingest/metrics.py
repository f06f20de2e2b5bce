"""Prometheus metrics of the ingest service (SPEC §5), on a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from energy_core.errors import Reason

STORES = ("spool", "dead_letters", "energy", "rollups", "heal")  # the data dir's SQLite files, by stem


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("ingest_messages_received", "MQTT messages received", registry=r)
        self.acked = Counter(
            "ingest_messages_acked", "MQTT messages acknowledged after durability", registry=r
        )
        self.points_written = Counter("ingest_points_written", "Points written to InfluxDB", registry=r)
        self.points_spooled = Counter(
            "ingest_points_spooled", "Points appended to the disk spool", registry=r
        )
        self.dead_letters = Counter(
            "ingest_dead_letters", "Messages or readings dead-lettered, by reason", ["reason"], registry=r
        )
        for reason in Reason:
            self.dead_letters.labels(reason.value)  # every reason shows up as 0 from the start
        self.spool_bytes = Gauge("ingest_spool_bytes", "Bytes held in the disk spool", registry=r)
        self.spool_max_bytes = Gauge("ingest_spool_max_bytes", "The spool's byte bound", registry=r)
        self.batch_seconds = Histogram(
            "ingest_batch_write_seconds",
            "Time to make one batch durable",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.lag_seconds = Gauge(
            "ingest_consumer_lag_seconds",
            "Receive-to-durable delay of the last batch's oldest message",
            registry=r,
        )
        self.backpressure = Counter(
            "ingest_backpressure_pauses",
            "Times reading paused because a full batch waited for the committer",
            registry=r,
        )
        self.mqtt_connected = Gauge("ingest_mqtt_connected", "1 while connected to the broker", registry=r)
        self.influx_up = Gauge(
            "ingest_influx_up",
            "1 when the last write to InfluxDB succeeded, 0 when it failed or was refused",
            registry=r,
        )
        self.store_quarantined = Counter(
            "ingest_store_quarantined",
            "Damaged SQLite stores moved aside at start (renamed *.corrupt-<time>), by store",
            ["store"],
            registry=r,
        )
        self.store_write_errors = Counter(
            "ingest_store_write_errors",
            "Failed writes to a SQLite store (disk full, I/O error); retried, nothing acked meanwhile",
            ["store"],
            registry=r,
        )
        for store in STORES:
            self.store_quarantined.labels(store)
            self.store_write_errors.labels(store)
        self.dead_letters_dropped = Counter(
            "ingest_dead_letters_dropped",
            "Dead letters dropped to keep the store within its bounds, by reason (age, bytes)",
            ["reason"],
            registry=r,
        )
        for bound in ("age", "bytes"):
            self.dead_letters_dropped.labels(bound)
        self.batch_messages = Histogram(
            "ingest_batch_messages",
            "MQTT messages per committed batch (bounded by INGEST_BATCH_SIZE: a full batch pauses reading)",
            registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000),
        )
