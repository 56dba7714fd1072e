"""API errors: one exception type turned into the documented JSON error body."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from graphflow.server.queue_store import StorageUnavailable

STATUS = {
    "bad_request": 400,
    "invalid_workflow": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "read_only": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "bad_workflow_file": 422,
    "storage_unavailable": 503,
}


class ApiError(Exception):
    """An error a client can cause; `code` picks the HTTP status, `message` says what to do."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        """The JSON error response."""
        body = {"error": self.code, "message": self.message, **self.extra}
        return web.json_response(body, status=STATUS[self.code])


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn `ApiError` and aiohttp's own HTTP errors on /api into the JSON error body."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except StorageUnavailable as exc:
        return ApiError("storage_unavailable", str(exc)).response()
    except web.HTTPRequestEntityTooLarge:
        return ApiError("too_large", "the request body is too large").response()
    except web.HTTPNotFound:
        if request.path.startswith("/api/"):
            return ApiError("not_found", f"no such API route: {request.method} {request.path}").response()
        raise
    except web.HTTPMethodNotAllowed as exc:
        if request.path.startswith("/api/"):
            return web.json_response(
                {
                    "error": "bad_request",
                    "message": f"method {request.method} is not allowed "
                    f"here (allowed: {', '.join(sorted(exc.allowed_methods))})",
                },
                status=405,
            )
        raise


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a clear 400."""
    try:
        return await request.json()
    except ValueError:
        raise ApiError("bad_request", "the request body is not valid JSON") from None


def json_object(data: Any, what: str = "request body") -> dict[str, Any]:
    """`data` if it is a JSON object, else a clear 400."""
    if not isinstance(data, dict):
        raise ApiError("bad_request", f"the {what} must be a JSON object")
    return data


async def optional_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, {} when there is none, or a clear 400."""
    if not request.body_exists or not (text := await request.text()).strip():
        return {}
    try:
        return json_object(json.loads(text))
    except ValueError:
        raise ApiError("bad_request", "the request body is not valid JSON") from None
