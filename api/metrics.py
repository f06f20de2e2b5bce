"""Prometheus metrics of the API: requests by route template, method and status, with latency.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which buffers and
complicates streaming responses (the SSE stream). Routes are labelled by their template
(``/sites/{site_id}/energy``), never the raw path, so ids cannot blow up the label set.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "api_request_seconds",
            "Time to the response's start, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        # The SSE fan-out (api/livefeed.py): one poll per interval however many streams are open.
        self.stream_polls = Counter(
            "api_stream_polls", "Polls of InfluxDB by the shared live feed", registry=self.registry
        )
        self.stream_queries = Counter(
            "api_stream_influx_queries",
            "InfluxDB requests made by the shared live feed",
            registry=self.registry,
        )
        self.streams_open = Gauge("api_streams_open", "Open SSE streams", registry=self.registry)
        self.streams_dropped = Counter(
            "api_streams_dropped",
            "SSE streams dropped because their client did not keep up",
            registry=self.registry,
        )

    def exposition(self) -> Response:
        """``/metrics`` in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Observes each HTTP request when its response starts (for SSE: when the stream opens)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                self.metrics.requests.labels(template, scope["method"], str(message["status"])).observe(
                    time.perf_counter() - started
                )
            await send(message)

        await self.app(scope, receive, observe)
