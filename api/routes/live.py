"""The built-in live page: the network overview on a control-room screen, fed by ``/stream``."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["live"])


@router.get("/live", response_class=HTMLResponse)
async def live_page() -> HTMLResponse:
    """A static page (no build step). It asks for an API key, or takes ``?key=``, and keeps it in
    sessionStorage; the page itself holds no data, so serving it needs no key."""
    page = resources.files("api").joinpath("static/live.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"})
