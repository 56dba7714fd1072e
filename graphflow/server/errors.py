"""API errors: one exception type turned into the documented JSON error body, and request parts read with clear
errors (JSON bodies, integer query parameters).

`error_middleware` wraps every route (graphflow's and ComfyUI's): an `ApiError` becomes its JSON body, aiohttp's
own 4xx answers get the same shape, and anything unexpected becomes a JSON 500 naming a log id under which the
traceback is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from graphflow.server.queue_store import StorageUnavailable
from graphflow.workflow import WorkflowFileError, loads_json

log = logging.getLogger("graphflow.server")

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
    "internal": 500,
    "storage_unavailable": 503,
}
# aiohttp's own refusals (no route, wrong method, a malformed websocket handshake, ...) by status
HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}
# how a UTF-16 surrogate (lone, or one of a pair) is written in JSON text
_SURROGATE_TEXT, _SURROGATE_BYTES = re.compile(r"\\u[dD][89a-fA-F]"), re.compile(rb"\\u[dD][89a-fA-F]")
_PARSED = web.RequestKey("graphflow_parsed_json", object)


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
    """Answer every error as the JSON error body: `ApiError`, storage faults, aiohttp's 4xx and unexpected ones."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except StorageUnavailable as exc:
        return ApiError("storage_unavailable", str(exc)).response()
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status >= 500:
            raise
        return _refusal(request, exc)
    except Exception:
        log_id = secrets.token_hex(4)
        log.exception("unexpected error answering %s %s (log id %s)", request.method, request.path, log_id)
        message = (
            f"the server failed to answer {request.method} {request.path}; its log has the details (log id {log_id})"
        )
        return ApiError("internal", message).response()


def _refusal(request: web.Request, exc: web.HTTPException) -> web.Response:
    if isinstance(exc, web.HTTPNotFound):
        message = f"no such route: {request.method} {request.path}"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"method {request.method} is not allowed here (allowed: {allowed})"
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        message = "the request body is too large"
    else:
        message = exc.text or exc.reason
    body = {"error": HTTP_CODES.get(exc.status, "bad_request"), "message": message}
    allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return web.json_response(body, status=exc.status, headers=allow)


def parse_json(text: str | bytes, what: str = "the request body", code: str = "bad_request") -> Any:
    """`text` as JSON, or an `ApiError(code)` saying why not: not JSON, nested too deeply, a number too long
    (the workflow loader's rules), or a lone UTF-16 surrogate (text no file or database takes)."""
    try:
        value = loads_json(text, what)
    except WorkflowFileError as exc:
        raise ApiError(code, str(exc)) from None
    if _escapes_a_surrogate(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(code, f"{what} holds a lone UTF-16 surrogate, which is not text") from None
    return value


def _escapes_a_surrogate(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return _SURROGATE_BYTES.search(text) is not None
    return _SURROGATE_TEXT.search(text) is not None


async def _body_text(request: web.Request) -> str:
    data = await request.read()
    try:
        return data.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ApiError("bad_request", f"the request body is not text in its charset ({exc})") from None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a clear 400; parsed off the event loop (a body may be a 10k-node workflow)."""
    if _PARSED not in request:  # parsed once, though a shared route's rule and its handler both read it
        request[_PARSED] = await asyncio.to_thread(parse_json, await _body_text(request))
    return request[_PARSED]


def json_object(data: Any, what: str = "request body") -> dict[str, Any]:
    """`data` if it is a JSON object, else a clear 400."""
    if not isinstance(data, dict):
        raise ApiError("bad_request", f"the {what} must be a JSON object")
    return data


async def optional_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, {} when there is none, or a clear 400."""
    if not request.body_exists or not (await _body_text(request)).strip():
        return {}
    return json_object(await read_json(request))


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter `name` (`default` when absent), or a 400 naming it."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("bad_request", f"query parameter {name!r} must be an integer") from None
    if not low <= value <= high:
        raise ApiError("bad_request", f"query parameter {name!r} must be between {low} and {high}")
    return value
