"""Key first, then a bounded body: a request that carries a body is refused before it is read.

FastAPI reads and parses a JSON body while resolving a route's parameters, which happens before
(or alongside) the key dependency: without this middleware an unauthenticated 200 MB POST is read
whole and parsed into memory. This pure ASGI middleware (Starlette's idiom, like ``metrics.py``)
runs before routing, for every route, and:

1. answers 401 to a request with a body (``Content-Length`` above 0 or ``Transfer-Encoding``)
   whose ``X-API-Key``/``Authorization: Bearer`` key is missing or wrong, without reading a byte
   of the body;
2. answers 413 when ``Content-Length`` says more than ``API_MAX_BODY_BYTES``;
3. counts a chunked (or lying) body as it streams and, past the bound, answers 413 and tells the
   app that the client went away, so at most the bound plus one chunk is ever held.

Each refusal closes the connection (``Connection: close``): the unread rest of the body is never
drained. Requests without a body (the GET routes, ``/stream`` with ``?key=``) pass through
untouched; their key is checked by ``api.deps`` as before.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import KeyRing

_MISSING = "send an API key in X-API-Key or Authorization: Bearer"


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key of ``X-API-Key`` or ``Authorization: Bearer`` (the header forms ``api.deps`` accepts)."""
    if key := headers.get(b"x-api-key"):
        return key.decode("latin-1")
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _declared_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:  # the HTTP parser refuses these first; stay safe if one ever gets through
        return None


def _has_body(headers: dict[bytes, bytes]) -> bool:
    declared = _declared_length(headers)
    return (
        b"transfer-encoding" in headers
        or (declared is not None and declared != 0)
        or (b"content-length" in headers and declared is None)
    )


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    body = orjson.dumps({"error": code, "message": message})
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class BodyGuardMiddleware:
    """Authenticate requests that carry a body before reading it, and bound its size."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        api = scope.get("state", {}).get("api")
        keys: KeyRing | None = api.resources.keys if api is not None else None
        presented = presented_key(headers)
        if not presented:
            await _refuse(send, 401, "missing_api_key", _MISSING)
            return
        if keys is None or keys.scope_of(presented) is None:
            await _refuse(send, 401, "invalid_api_key", "the API key is not valid")
            return
        limit = self.max_body_bytes
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            await _refuse(send, 413, "body_too_large", f"a request body may hold at most {limit} bytes")
            return
        await self._bounded(scope, receive, send, limit)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(
                            send, 413, "body_too_large", f"a request body may hold at most {limit} bytes"
                        )
                    # The app sees a client that went away (Starlette raises ClientDisconnect).
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our 413 is the answer; whatever the app says after it goes nowhere
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
