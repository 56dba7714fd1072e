"""Who may talk to the server: loopback-only by default, a token otherwise, same-origin requests only."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from graphflow.server.errors import ApiError

TOKEN_COOKIE = "graphflow_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_TOKEN_LENGTH = 16
TOKEN_OPTION = "--token"
REDACTED = "***"


class UnsafeBinding(ValueError):
    """Listening beyond loopback without a token was asked for."""


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only reaches this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse a blank token anywhere, and a missing or short one on anything but loopback."""
    advice = "Make a strong one with `graphflow serve --generate-token`"
    if token is not None and not token.strip():
        raise UnsafeBinding(
            f"the token is blank, which protects nothing. {advice}, or leave the token out on 127.0.0.1"
        )
    if is_loopback(host):
        return
    if token is None:
        raise UnsafeBinding(
            f"refusing to listen on {host!r} without a token: anyone who can reach it could run workflows "
            f"and read your files. Pass --token T (or set GRAPHFLOW_TOKEN), or use --host 127.0.0.1. {advice}"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise UnsafeBinding(
            f"refusing to listen on {host!r} with a token shorter than {MIN_TOKEN_LENGTH} characters: "
            f"off loopback it could be guessed. {advice}"
        )


def generate_token() -> str:
    """A strong random token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """`argv` with the token's value shown as ***: `--token T`, `--token=T` and argparse's abbreviations (`--tok T`)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        option, equals, _ = arg.partition("=")
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
        elif len(option) > 2 and TOKEN_OPTION.startswith(option):
            shown.append(f"{option}={REDACTED}" if equals else arg)
            hide_next = not equals
        else:
            shown.append(arg)
    return shown


def _host_name(host_header: str) -> str:
    try:
        return urlsplit(f"//{host_header}").hostname or ""
    except ValueError:  # e.g. "[" (an unclosed IPv6 address): no host this server answers to
        return ""


def make_security_middleware(bind_host: str, token: str | None) -> Middleware:
    """A middleware checking Host (against DNS rebinding), Origin (same origin only) and the token."""
    allowed_hosts = set(LOOPBACK_NAMES) | {bind_host.strip("[]").lower()}
    any_host = bind_host in ("0.0.0.0", "::", "")

    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        host_header = request.headers.get("Host", "")
        if not any_host and not is_loopback(_host_name(host_header)) and _host_name(host_header) not in allowed_hosts:
            raise ApiError("forbidden", f"requests for host {host_header!r} are not served here")
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, request):
            raise ApiError("forbidden", f"cross-origin request from {origin!r} refused")
        if token is None:
            return await handler(request)
        given_in_query = request.query.get("token")
        if not _token_ok(request, token):
            raise ApiError(
                "unauthorized", "a valid token is required: send 'Authorization: Bearer <token>' or add ?token=<token>"
            )
        response = await handler(request)
        if given_in_query is not None and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    return security


def _same_origin(origin: str, request: web.Request) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:  # not a URL at all
        return False
    return parts.scheme in ("http", "https") and parts.scheme == request.scheme and parts.netloc == request.host


def _token_ok(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    candidates = [request.query.get("token"), request.cookies.get(TOKEN_COOKIE)]
    if header.lower().startswith("bearer "):
        candidates.append(header[7:].strip())
    expected = token.encode()
    return any(c is not None and hmac.compare_digest(c.encode(), expected) for c in candidates)
