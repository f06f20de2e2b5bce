"""The uvicorn server of ``python -m api``: connection limits and timeouts against slowloris.

uvicorn (0.54, h11) arms its keep-alive timer only after a response, and any byte received
cancels it, so a connection that never finishes its request headers is kept forever: 1,100
of them made every real request wait. ``HeaderTimeoutProtocol`` gives each request
``API_HEADER_TIMEOUT_S`` from the connection's start (or the previous response's end) to
deliver its request line and headers, however slowly the bytes trickle in, then closes the
connection. ``limit_concurrency`` answers 503 at once above ``API_MAX_CONNECTIONS`` open
connections instead of letting them pile up, and ``h11_max_incomplete_event_size`` bounds
the header bytes held per connection. Slow bodies are bounded by ``API_MAX_BODY_BYTES``
(api/bodyguard.py). In production a reverse proxy in front does the rest (docs/api.md).
"""

from __future__ import annotations

import asyncio

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import ApiSettings

MAX_HEADER_BYTES = 16 * 1024  # our requests carry a key and a short query; 16 KiB is generous


class HeaderTimeoutProtocol(H11Protocol):
    """h11 that closes a connection whose request headers are not complete in time."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        # Still waiting for (the rest of) a request's headers: a client this slow is not served.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in: the request is being served
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def protocol_for(settings: ApiSettings) -> type[HeaderTimeoutProtocol]:
    """A protocol class carrying this configuration's header timeout (uvicorn instantiates it)."""
    return type(
        "ConfiguredHeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout_s": settings.api_header_timeout_s},
    )


def server_config(app: FastAPI, settings: ApiSettings, *, port: int | None = None) -> uvicorn.Config:
    """uvicorn's configuration for the API: limits and timeouts from ``settings``.

    Access logs stay off (log_level warning): ``/stream`` carries the API key in its query string.
    """
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port if port is None else port,
        log_level="warning",
        http=protocol_for(settings),
        limit_concurrency=settings.api_max_connections,
        timeout_keep_alive=settings.api_keep_alive_s,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=5,
    )
