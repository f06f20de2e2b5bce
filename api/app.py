"""The FastAPI application factory: routers, error handlers, lifespan. OpenAPI docs at ``/docs``
and ``/redoc``, served offline (api/routes/home.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api import errors
from api.bodyguard import BodyGuardMiddleware
from api.metrics import ApiMetrics, MetricsMiddleware
from api.models import ErrorOut
from api.routes import assets, deadletters, energy, home, live, network, readings, stream, substations
from api.routes import buildings as buildings_routes
from api.routes import climate as climate_routes
from api.settings import ApiSettings
from api.state import Resources, lifespan_for

DESCRIPTION = """\
Readings, energy and emissions of Borlänge's district heating and buildings (SPEC §7).

Send an API key as `X-API-Key: <key>` or `Authorization: Bearer <key>`. A key is bound to
`operator` (every site) or to one owner; another owner's site answers 404 like an unknown one.
Errors are JSON: `{"error": "<code>", "message": "<text>"}`.
"""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "bad input: inverted or too large range, bad every, unknown field…"),
        (401, "missing or wrong API key"),
        (403, "an operator key is needed"),
        (404, "unknown, or another owner's, site or device"),
        (413, "a request body above API_MAX_BODY_BYTES"),
        (422, "a parameter does not match its type or pattern"),
        (429, "too many concurrent streams for this API key"),
        (503, "InfluxDB or the MQTT broker cannot be reached"),
    )
}


def create_app(settings: ApiSettings, resources: Resources | None = None) -> FastAPI:
    """Build the app; files are read and InfluxDB is opened by the lifespan, not here."""
    metrics = ApiMetrics()
    app = FastAPI(
        title="Borlänge energy API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan_for(settings, resources, metrics),
        docs_url=None,  # served by api/routes/home.py from vendored assets, not a CDN
        redoc_url=None,
    )
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    for module in (assets, readings, energy, network, stream, deadletters):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(buildings_routes.router, responses=ERROR_RESPONSES)
    app.include_router(climate_routes.router, responses=ERROR_RESPONSES)
    app.include_router(substations.router, responses=ERROR_RESPONSES)
    app.include_router(live.router)
    home.install(app)
    # Before routing, so no route can read a body before its key is checked (api/bodyguard.py).
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_api_route("/metrics", metrics.exposition, include_in_schema=False)
    return app
