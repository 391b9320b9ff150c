"""The one place where crps-qa errors become HTTP responses. Every error body is ``{"detail": str}``.

    QueryError, ConfigError         → 422  the request cannot be served as sent; the detail says why
    NotFoundError                   → 404  unknown document or passage id
    IndexError_ (missing, corrupt,
    mismatched), ModelError         → 503  the service is up but not ready; the detail says how to fix it
    any other CrpsQaError           → 500

Request validation errors (a missing field, a k that is not a number, an unknown mode) are turned
into one readable sentence too, instead of pydantic's list of error objects.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from crps_qa.errors import ConfigError, CrpsQaError, IndexError_, ModelError, NotFoundError, QueryError

log = logging.getLogger(__name__)

STATUS: dict[type[CrpsQaError], int] = {
    QueryError: 422,
    ConfigError: 422,
    NotFoundError: 404,
    IndexError_: 503,
    ModelError: 503,
}


def status_for(exc: CrpsQaError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """pydantic's error list → one sentence per problem.

    e.g. ``k: Input should be a valid integer, unable to parse string as an integer (got 'x').``
    """
    sentences = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("query", "body", "path", "header", "cookie"):  # where it was sent, not a field
            loc = loc[1:]
        name = ".".join(str(part) for part in loc) or "request body"
        if error.get("type") == "missing":
            sentences.append(f"{name} is required.")
            continue
        message = f"{name}: {error.get('msg', 'invalid value')}"
        if "input" in error and error.get("type") != "json_invalid":
            message += f" (got {str(error['input'])[:80]!r})"
        sentences.append(message + ".")
    return " ".join(sentences) or "The request is not valid."


async def _crps_qa_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CrpsQaError)
    status = status_for(exc)
    if status == 500:  # 503 (no index yet) is a known state that /ready already reports
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation(list(exc.errors()))}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return JSONResponse(
        {"detail": f"Internal error ({type(exc).__name__}); see the service log."}, status_code=500
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(CrpsQaError, _crps_qa_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
