"""Property-based fuzzing of every route of a real server on loopback (graphflow's /api and ComfyUI's API, listed
from the app's router): arbitrary and route-shaped JSON bodies, nesting past the limit, odd bytes, paths and query
strings, multipart uploads with odd names and contents. No answer is a 5xx; every 4xx is a JSON error with a
message. The strategies are `benchmarks/fuzz_routes.py`'s, which runs them longer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_routes import (
    LiveServer,
    Request,
    Route,
    check,
    json_requests,
    multipart_requests,
    nested_requests,
    raw_requests,
)
from graphflow.server import ServerConfig

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
Kind = Callable[[Sequence[Route]], st.SearchStrategy[Request]]


@pytest.fixture
def server(config: ServerConfig) -> Iterator[LiveServer]:
    """The test configuration's server, on a free loopback port, for the whole test."""
    with LiveServer(config) as live:
        yield live


def fuzz(server: LiveServer, kind: Kind, examples: int) -> None:
    """Send `examples` requests of `kind` to the server; each must keep the rule."""

    @settings(FUZZ, max_examples=examples)
    @given(kind(server.routes))
    def keeps_the_rule(request: Request) -> None:
        broken = check(server, request)
        assert broken is None, f"{broken}: {request!r}"

    keeps_the_rule()


def test_json_bodies_on_every_route_of_both_apis_get_a_clear_answer(server: LiveServer):
    paths = {route.path for route in server.routes}
    assert {"/api/prompt", "/prompt", "/api/upload/mask", "/history", "/api/workflows/{source}/{name}"} <= paths
    fuzz(server, json_requests, 250)


def test_nesting_past_the_limit_on_every_route_gets_a_clear_answer(server: LiveServer):
    fuzz(server, nested_requests, 100)


def test_odd_bytes_paths_and_query_strings_get_a_clear_answer(server: LiveServer):
    fuzz(server, raw_requests, 250)


def test_multipart_uploads_with_odd_names_and_contents_get_a_clear_answer(server: LiveServer):
    fuzz(server, multipart_requests, 200)
