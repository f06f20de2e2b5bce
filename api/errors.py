"""Errors the API turns into clear 4xx JSON bodies: ``{"error": <code>, "message": <text>}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from energy_core.errors import EnergyError, InfluxError, InfluxUnavailable


class ApiError(EnergyError):
    """Raised when a request cannot be answered; ``status`` and ``code`` go to the client as JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(kind: str, ident: str) -> ApiError:
    """The one answer for both "does not exist" and "belongs to another owner": nothing leaks."""
    return ApiError(404, f"unknown_{kind}", f"no {kind} {ident!r}")


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": code, "message": message, **extra}


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(_body(exc.code, exc.message), status_code=exc.status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"parameter": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), "problem": err["msg"]}
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"parameter": "?", "problem": "invalid"}
    message = f"{first['parameter']}: {first['problem']}"
    return JSONResponse(_body("invalid_parameter", message, problems=problems), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def _influx_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(_body("storage_unavailable", "InfluxDB cannot be reached"), status_code=503)


async def _influx_error(_: Request, exc: Exception) -> JSONResponse:
    # Every query is built from validated parts, so this is our bug or a storage fault, not the caller's.
    assert isinstance(exc, InfluxError)
    return JSONResponse(_body("storage_error", "InfluxDB refused the query"), status_code=502)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(InfluxUnavailable, _influx_unavailable)
    app.add_exception_handler(InfluxError, _influx_error)
