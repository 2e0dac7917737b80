"""Every error leaves the API as ``{"error": {"code", "message"}}`` with a fitting status."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import (
    FindImageError,
    Forbidden,
    ImageTooLarge,
    InvalidImage,
    InvalidRequest,
    ModelUnavailable,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    TimedOut,
    Unauthorized,
    UnsupportedImage,
)

# Most specific first: the first match wins.
STATUS_BY_ERROR: list[tuple[type[FindImageError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (InvalidRequest, 422),
    (RateLimited, 429),
    (UnsupportedImage, 415),
    (ImageTooLarge, 413),
    (InvalidImage, 400),
    (ServiceUnavailable, 503),
    (ModelUnavailable, 503),
    (TimedOut, 504),
]


def status_of(error: FindImageError) -> int:
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)), 500)


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FindImageError)
    async def findimage_error(_: Request, exc: FindImageError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return JSONResponse(error_body(exc.code, exc.message), status_code=status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'] if part != 'body')}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse(error_body("invalid_request", problems), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
