"""``/metrics``, ``/healthz`` and ``/readyz`` over a minimal asyncio HTTP/1.1 responder.

``/healthz`` (liveness) is 503 when restarting would help: a core task has ended or the service
is stopping. ``/readyz`` is 503 while ingest cannot make what it receives durable or is not
subscribed; both carry their reasons: ``{"status":"not_ready","reasons":["…"]}``. Waiting out a
broken InfluxDB or a full disk is not a liveness failure: a restart would not fix it, and the
broker keeps the unacknowledged messages meanwhile.

Hand-written (~50 lines) instead of uvicorn: uvicorn's server takes over SIGTERM/SIGINT,
and the ingest service must own its shutdown order (flush, ack, then exit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class HealthServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        not_ready: Callable[[], list[str]],
        not_alive: Callable[[], list[str]] = list,
    ) -> None:
        self.registry = registry
        self.not_ready = not_ready
        self.not_alive = not_alive
        self.port: int | None = None
        self.serving = asyncio.Event()

    async def serve(self, host: str, port: int) -> None:
        server = await asyncio.start_server(self._handle, host, port)
        self.port = server.sockets[0].getsockname()[1]
        self.serving.set()
        async with server:
            await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, ctype, body = self._route(method, path.split("?", 1)[0])
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if method != "HEAD" else b""))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            ConnectionError,
        ):
            pass
        finally:
            writer.close()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            if problems := self.not_alive():
                return _unavailable("failing", problems)
            return "200 OK", "application/json", b'{"status":"ok"}\n'
        if path == "/readyz":
            if reasons := self.not_ready():
                return _unavailable("not_ready", reasons)
            return "200 OK", "application/json", b'{"status":"ready"}\n'
        return "404 Not Found", "text/plain", b"not found\n"


def _unavailable(status: str, reasons: list[str]) -> tuple[str, str, bytes]:
    body = orjson.dumps({"status": status, "reasons": reasons}) + b"\n"
    return "503 Service Unavailable", "application/json", body
