"""An InfluxQL target for grafana-foundation-sdk.

The SDK ships builders for Prometheus, Loki, Elasticsearch and others but none for the
InfluxDB datasource, so this module adds the small part of its query model we use: a raw
InfluxQL query (``rawQuery: true``) with an alias and a result format. The JSON keys are
those Grafana's InfluxDB datasource stores in dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from dashboards import datasources

ResultFormat = Literal["time_series", "table"]


@dataclass
class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel."""

    query: str
    ref_id: str = "A"
    alias: str | None = None
    result_format: ResultFormat = "time_series"
    datasource: DataSourceRef = field(default_factory=datasources.influx)

    def to_json(self) -> dict[str, object]:
        """The target as Grafana stores it in dashboard JSON."""
        payload: dict[str, object] = {
            "datasource": self.datasource,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder form of :class:`InfluxQLQuery`, so it plugs into the SDK's panel builders."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def alias(self, alias: str) -> Self:
        """Series name pattern, e.g. ``$tag_site`` or ``$col``."""
        self._internal.alias = alias
        return self

    def table(self) -> Self:
        """Return rows rather than time series (table panels, bar gauges of the latest value)."""
        self._internal.result_format = "table"
        return self
