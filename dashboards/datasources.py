"""The provisioned datasources every panel points at (uids fixed in provisioning/datasources/)."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataSourceRef

INFLUX_UID = "influxdb-energy"
INFLUX_TYPE = "influxdb"
PROMETHEUS_UID = "prometheus"
PROMETHEUS_TYPE = "prometheus"

# The uids a panel target may name; the lint rejects anything else.
PROVISIONED_UIDS = {INFLUX_UID: INFLUX_TYPE, PROMETHEUS_UID: PROMETHEUS_TYPE}


def influx() -> DataSourceRef:
    """A fresh reference to the provisioned InfluxQL datasource."""
    return DataSourceRef(type_val=INFLUX_TYPE, uid=INFLUX_UID)


def prometheus() -> DataSourceRef:
    """A fresh reference to the provisioned Prometheus datasource (ingest health)."""
    return DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)
