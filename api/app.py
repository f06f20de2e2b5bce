"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from api.settings import ApiSettings


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="Borlänge energy API", version="0.1.0")
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
