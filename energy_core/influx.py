"""InfluxDB over its v1 HTTP API (``/write`` line protocol, ``/query`` InfluxQL, ``/ping``).

This is the one API InfluxDB 1.x, 2.x (v1 compatibility) and 3 Core all serve (SPEC §2).
Written on httpx because ``influxdb-client`` speaks only the v2 API and the 1.x ``influxdb``
package is synchronous and unmaintained.
"""

from __future__ import annotations

import asyncio
import random
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
import structlog

from energy_core.errors import InfluxError, InfluxRefused, InfluxUnavailable
from energy_core.settings import InfluxSettings

log = structlog.get_logger("energy_core.influx")

_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# Answers about the points themselves: a bad line (400, "partial write" included) or a body too
# large (413). Only these are worth bisecting; every other 4xx says nothing about the points.
POINT_ERRORS = frozenset({400, 413})


def is_missing_database(status: int, body: str) -> bool:
    """InfluxDB 1.x's answer to a write into a database that does not exist (yet)."""
    return status == 404 and "database not found" in body


class InfluxClient:
    """An async InfluxDB v1-API client; use as an async context manager."""

    def __init__(
        self,
        url: str,
        db: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.db = db
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = httpx.BasicAuth(username, password or "") if username and not token else None
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, auth=auth, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: InfluxSettings, timeout_s: float = 10.0) -> InfluxClient:
        return cls(
            settings.influx_url,
            settings.influx_db,
            token=settings.influx_token.get_secret_value() if settings.influx_token else None,
            username=settings.influx_username,
            password=settings.influx_password.get_secret_value() if settings.influx_password else None,
            timeout_s=timeout_s,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def ping(self) -> bool:
        try:
            response = await self._http.get("/ping")
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    async def write(
        self, body: bytes, *, attempts: int = 4, db: str | None = None, rp: str | None = None
    ) -> None:
        """POST line protocol. Retries 5xx and timeouts with jittered backoff.

        Raises InfluxError when the answer is about the points (400, 413: its body says which) or
        the database is missing (404 "database not found"); InfluxRefused for any other 4xx (401,
        403, …: nothing is wrong with the points); InfluxUnavailable when the retries are spent.
        ``rp`` names a retention policy other than the database's default (the roll-ups').
        """
        params = {"db": db or self.db, "precision": "ns"}
        if rp is not None:
            params["rp"] = rp
        delay = 0.1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.post("/write", params=params, content=body)
            except _RETRYABLE as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return
                status = response.status_code
                if status < 500:
                    if status in POINT_ERRORS or is_missing_database(status, response.text):
                        raise InfluxError(status, response.text)
                    raise InfluxRefused(status, response.text)
                problem = f"{response.status_code}: {response.text[:200]}"
            if attempt == attempts:
                raise InfluxUnavailable(problem)
            log.warning("influx_write_retry", attempt=attempt, error=problem, delay_s=round(delay, 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 4, 5.0)
        raise AssertionError("unreachable")

    async def query(self, q: str, *, db: str | None = None, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the ``results`` list. Raises InfluxError on an error result."""
        params = {"q": q, "db": db or self.db, "epoch": "ns"}
        try:
            if method == "POST":
                response = await self._http.post("/query", data=params)
            else:
                response = await self._http.get("/query", params=params)
        except _RETRYABLE as exc:
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise InfluxUnavailable(f"{response.status_code}: {response.text[:200]}")
        body = orjson.loads(response.content) if response.content else {}
        if response.status_code >= 400 or "error" in body:
            raise InfluxError(response.status_code, str(body.get("error", response.text)))
        results: list[dict[str, Any]] = body.get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxError(400, str(result["error"]))
        return results

    async def ensure_database(self, db: str | None = None) -> None:
        """CREATE DATABASE is idempotent on 1.x; on 2.x/3.x it is refused and the DBRP must exist."""
        name = db or self.db
        try:
            await self.query(f'CREATE DATABASE "{name}"', method="POST")
        except InfluxError as exc:
            log.info("influx_create_database_refused", db=name, error=str(exc))
        except InfluxUnavailable as exc:
            log.warning("influx_unavailable_at_start", db=name, error=str(exc))
