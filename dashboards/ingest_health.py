"""Ingest health, from the ingest service's Prometheus ``/metrics`` (ingest/metrics.py).

Counters are read with ``rate``/``increase`` over ``$__rate_interval`` so the panels work at
any scrape interval; ``$instance`` picks ingest workers when several share the load.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import timeseries

from dashboards.panels import (
    base_dashboard,
    prometheus_label_variable,
    promql,
    row,
    stat_panel,
    timeseries_panel,
)

UID = "energy-ingest-health"

SEL = '{instance=~"$instance"}'


def _rate(counter: str) -> str:
    return f"sum(rate({counter}{SEL}[$__rate_interval]))"


def _quantile(q: float) -> str:
    buckets = f"rate(ingest_batch_write_seconds_bucket{SEL}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by (le) ({buckets}))"


def _rates(title: str, *counters: tuple[str, str]) -> timeseries.Panel:
    """Per-second rates of counters (name, legend), summed over the selected workers."""
    targets = [
        promql(_rate(counter), legend, chr(ord("A") + i)) for i, (counter, legend) in enumerate(counters)
    ]
    return timeseries_panel(title, "cps", list(targets))


def build() -> dash.Dashboard:
    """The ingest health dashboard."""
    return (
        base_dashboard(
            UID,
            "Ingest health",
            "MQTT → InfluxDB ingestion: throughput, dead letters, spool, batch latency and lag.",
            ["operators", "ingest"],
        )
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(
            prometheus_label_variable(
                "instance", "Ingest worker", "label_values(ingest_mqtt_connected, instance)"
            )
        )
        .with_row(row("Status"))
        .with_panel(
            stat_panel(
                "MQTT connected",
                "bool_yes_no",
                [promql(f"min(ingest_mqtt_connected{SEL})", "connected")],
                description="No when any selected worker has lost the broker.",
            )
        )
        .with_panel(
            stat_panel(
                "InfluxDB writable",
                "bool_yes_no",
                [promql(f"min(ingest_influx_up{SEL})", "influx up")],
                description="No when a worker's last write failed; it is spooling to disk.",
            )
        )
        .with_panel(
            stat_panel(
                "Consumer lag", "s", [promql(f"max(ingest_consumer_lag_seconds{SEL})", "lag")], decimals=2
            )
        )
        .with_panel(
            stat_panel(
                "Spool fill",
                "percentunit",
                [promql(f"max(ingest_spool_bytes{SEL} / ingest_spool_max_bytes{SEL})", "spool fill")],
                description="Fraction of the disk spool's byte bound in use (worst worker).",
                decimals=1,
            )
        )
        .with_row(row("Throughput"))
        .with_panel(
            _rates(
                "Messages",
                ("ingest_messages_received_total", "received"),
                ("ingest_messages_acked_total", "acknowledged"),
            )
        )
        .with_panel(
            _rates(
                "Points",
                ("ingest_points_written_total", "written to InfluxDB"),
                ("ingest_points_spooled_total", "spooled to disk"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Dead letters by reason",
                "short",
                [
                    promql(
                        f"sum by (reason) (increase(ingest_dead_letters_total{SEL}[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
                bars=True,
                stacked=True,
                width=24,
            )
        )
        .with_row(row("Latency and spool"))
        .with_panel(
            timeseries_panel(
                "Batch write time",
                "s",
                [promql(_quantile(0.5), "p50", "A"), promql(_quantile(0.99), "p99", "B")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Consumer lag",
                "s",
                [promql(f"max by (instance) (ingest_consumer_lag_seconds{SEL})", "{{instance}}")],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Spool size",
                "bytes",
                [
                    promql(f"sum(ingest_spool_bytes{SEL})", "spooled", "A"),
                    promql(f"sum(ingest_spool_max_bytes{SEL})", "bound", "B"),
                ],
                width=8,
            )
        )
    )
