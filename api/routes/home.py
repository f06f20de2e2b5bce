"""The landing page ``/`` and the API documentation ``/docs`` and ``/redoc``, served offline.

FastAPI's default docs pages load Swagger UI and ReDoc from a CDN (and ReDoc Google Fonts), so
they are blank on a machine without internet: control rooms and OT networks are often offline.
Here the same pages load the scripts from ``api/static/vendor/`` (copied from the npm packages,
with their licences; see the README there), served under ``/static/vendor/``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR = "/static/vendor"
# Nothing on these pages may leave the server: ReDoc's sidebar credit loads a logo from its CDN,
# which this policy blocks before any request is made (the credit's link stays). Inline script
# and style: FastAPI's pages start Swagger UI inline; ReDoc runs its search in a blob: worker.
OFFLINE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = OFFLINE_POLICY
    return page


LANDING = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ margin: 0 auto; max-width: 44rem; padding: 1.5rem;
         font-family: system-ui, "DejaVu Sans", "Liberation Sans", sans-serif; line-height: 1.5; }}
  dt {{ font-weight: 600; margin-top: 1rem; }} dd {{ margin-left: 0; }} code {{ overflow-wrap: anywhere; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Readings, energy and emissions of Borlänge's district heating and buildings.</p>
<dl>
  <dt><a id="live" href="live">Live page</a></dt>
  <dd>The network overview for a control-room screen. It needs an API key: open
    <code>/live?key=&lt;key&gt;</code> or enter the key in the page.</dd>
  <dt><a id="docs" href="docs">API documentation (Swagger UI)</a></dt>
  <dd>Every endpoint, to read and to try with a key (<em>Authorize</em>).</dd>
  <dt><a id="redoc" href="redoc">API reference (ReDoc)</a></dt>
  <dd>The same OpenAPI document as one readable page; the document itself is
    <a href="openapi.json">openapi.json</a>.</dd>
  <dt><a id="metrics" href="metrics">Metrics</a></dt>
  <dd>Prometheus exposition of the API's request and stream counters.</dd>
</dl>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """``/``, ``/docs``, ``/redoc`` and the vendored assets; the app is built with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not registered."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(VENDOR, StaticFiles(packages=[("api", "static/vendor")]), name="vendor")
    favicon = f"{VENDOR}/swagger-ui/favicon-32x32.png"

    @app.get("/", include_in_schema=False)
    async def landing() -> HTMLResponse:
        """What this server offers, with links; no key needed and no data shown."""
        return _offline(HTMLResponse(LANDING.format(title=app.title)))

    def page(path: str, name: str, render: Callable[..., HTMLResponse], **assets: object) -> None:
        """A vendored documentation page at ``path`` that loads nothing from elsewhere."""

        async def serve() -> HTMLResponse:
            return _offline(render(openapi_url=openapi_url, title=f"{app.title} — {name}", **assets))

        app.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=name)

    swagger_ui = {
        "swagger_js_url": f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        "swagger_css_url": f"{VENDOR}/swagger-ui/swagger-ui.css",
        "swagger_favicon_url": favicon,
        # No call to the public validator service (it would leave the machine).
        "swagger_ui_parameters": {"validatorUrl": None},
    }
    page("/docs", "Swagger UI", get_swagger_ui_html, **swagger_ui)
    redoc = {"redoc_js_url": f"{VENDOR}/redoc/redoc.standalone.js", "redoc_favicon_url": favicon}
    page("/redoc", "ReDoc", get_redoc_html, **redoc, with_google_fonts=False)
