"""Fuzzing graphflow's HTTP routes: a real server on loopback in a temporary folder, and every route of its router
(graphflow's /api and ComfyUI's API, so a new route is fuzzed as soon as it exists) sent hostile requests: JSON
bodies of any shape and the shapes the routes read, bodies nested deeper than any parser takes, raw bytes in odd
charsets, odd path parts and query strings, multipart uploads with odd names and contents.

The rule every answer keeps: no 5xx, and every 4xx is a JSON body with an error and a message (graphflow's
`{"error", "message"}`, or ComfyUI's `{"error": {"type", "message", ...}}`). Prompts that happen to be valid are
queued and run; they are built from nodes that stay cheap whatever their values (tiny images, primitives).

    .venv/bin/python benchmarks/fuzz_routes.py [--cases 8000] [--seed 0]

`fuzz_routes(cases, seed)` returns the cases tried and the failures by kind ("500 POST /api/prompt", "404 without
a JSON error GET /{path}", or the exception a request ended in); `tests/server/test_fuzz_routes.py` runs the same
strategies, fewer cases, in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import json
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: graphflow from this checkout

from aiohttp import web  # noqa: E402
from hypothesis import HealthCheck, Phase, assume, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from graphflow.server import ServerConfig, create_app  # noqa: E402
from graphflow.settings import Settings  # noqa: E402

T = TypeVar("T")
REQUEST_TIMEOUT_S = 60.0
# aiohttp's HTTP parser refuses longer request lines with a plain 400 before any route (or middleware) sees them
MAX_REQUEST_LINE = 8_000
BOUNDARY = "fuzzboundary7MA4YWxk"

# Strings that have broken routes before or sit on a rule's edge: paths out of a folder, names too long for a
# file system, NUL, numbers past 64 bits or in other scripts, known ids and kinds.
ODD_TEXT = (
    "",
    " ",
    ".",
    "..",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\Windows",
    "a\\b",
    "\x00",
    "a\x00b.png",
    "x" * 300,
    "/".join(["d"] * 600),
    "%00",
    "%2e%2e",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "NaN",
    "٣",
    "²",
    " 5 ",
    "true",
    "null",
    "input",
    "output",
    "temp",
    "user",
    "repo",
    "checkpoints",
    "builtin:shapes-demo",
    "x.json",
    "sub/x.json",
    "cat.png",
    "user.css",
    "comfy.settings.json",
    "index.json",
    "all",
    "mine",
    "pending,completed",
    "created_at",
    "execution_duration",
    "asc",
)
QUERY_NAMES = (
    "offset",
    "limit",
    "max_items",
    "filename",
    "subfolder",
    "type",
    "dir",
    "path",
    "status",
    "sort_by",
    "sort_order",
    "workflow_id",
    "overwrite",
    "full_info",
    "recurse",
    "split",
    "watch",
    "client_id",
    "clientId",
)
BODY_KEYS = (
    "workflow",
    "prompt",
    "targets",
    "priority",
    "front",
    "client_id",
    "prompt_id",
    "extra_data",
    "partial_execution_targets",
    "number",
    "delete",
    "clear",
    "job_ids",
    "unload_models",
    "free_memory",
    "nodes",
    "format",
    "version",
)
BIG_INTS = (2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**70, -(2**70), 10**30)
# Node types and inputs that stay cheap whatever values they get; no links into sizes (an integer node could
# feed a size no literal check would let through).
GRAPHFLOW_TYPES = (
    "graphflow.image.empty",
    "graphflow.image.preview",
    "graphflow.primitive.int",
    "graphflow.primitive.string",
    "no.such.type",
)
GRAPHFLOW_INPUTS = ("width", "height", "batch_size", "color", "value", "images", "filename_prefix", "nonsense")
COMFY_TYPES = ("EmptyImage", "PreviewImage", "SaveImage", "ImageInvert", "SolidMask", "MaskToImage", "NoSuchNode")
COMFY_INPUTS = ("width", "height", "batch_size", "color", "value", "images", "image", "mask", "filename_prefix")
LINKED_INPUTS = ("images", "image", "mask", "nonsense")
CHARSETS = ("application/json", "application/json; charset=utf-16", "application/json; charset=nope", "text/plain")


@dataclass(frozen=True)
class Route:
    """One method and path template of the server's router."""

    method: str
    path: str


@dataclass(frozen=True)
class Request:
    """One fuzzed request: the route it was made for, and what goes on the wire."""

    route: Route
    method: str
    target: str
    body: bytes = b""
    content_type: str | None = None

    def __repr__(self) -> str:
        body = self.body[:300] + (b"..." if len(self.body) > 300 else b"")
        return f"Request({self.method} {self.target[:300]} {self.content_type} {body!r})"


@dataclass(frozen=True)
class Answer:
    """The status and body the server answered."""

    status: int
    body: bytes


def app_routes(app: web.Application) -> list[Route]:
    """Every method and path template the app answers (HEAD, which aiohttp adds to each GET, aside)."""
    found = [Route(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None]
    return [r for r in dict.fromkeys(found) if r.method != "HEAD"]


# --- values ---------------------------------------------------------------------------------------------------


@functools.cache
def texts() -> st.SearchStrategy[str]:
    """Odd strings and arbitrary ones (lone surrogates aside: they cannot travel as UTF-8)."""
    return st.sampled_from(ODD_TEXT) | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@functools.cache
def scalars() -> st.SearchStrategy[Any]:
    """JSON scalars, with the numbers routes choke on: past 64 bits, non-finite, negative zero."""
    return (
        st.none()
        | st.booleans()
        | st.integers(-3, 70)
        | st.sampled_from(BIG_INTS)
        | st.floats(allow_nan=True, allow_infinity=True)
        | texts()
    )


@functools.cache
def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, a few levels deep."""
    return st.recursive(
        scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(), inner, max_size=4),
        max_leaves=max_leaves,
    )


def _link(ids: list[str]) -> st.SearchStrategy[Any]:
    output = st.sampled_from(("image", "images", "result", "mask", "")) | texts()
    return st.fixed_dictionaries({"node": st.sampled_from(ids) | texts(), "output": output}) | json_values(4)


@st.composite
def graphflow_workflows(draw: st.DrawFn) -> dict[str, Any]:
    """graphflow workflows of cheap nodes with odd inputs and links; some are valid and get queued."""
    ids = draw(st.lists(st.sampled_from(("a", "b", "c")) | texts(), min_size=1, max_size=4, unique=True))
    nodes: dict[str, Any] = {}
    for node_id in ids:
        node: dict[str, Any] = {
            "type": draw(st.sampled_from(GRAPHFLOW_TYPES) | scalars()),
            "inputs": draw(st.dictionaries(st.sampled_from(GRAPHFLOW_INPUTS) | texts(), scalars(), max_size=4)),
        }
        if draw(st.booleans()):
            node["links"] = draw(st.dictionaries(st.sampled_from(LINKED_INPUTS), _link(ids), max_size=2))
        nodes[node_id] = draw(st.just(node) | json_values(4))
    workflow: dict[str, Any] = {"format": "graphflow.workflow", "version": 1, "nodes": nodes}
    for key in draw(st.lists(st.sampled_from(("format", "version", "nodes", "ui")), max_size=2)):
        workflow[key] = draw(json_values(4))
    return workflow


def valid_workflow() -> dict[str, Any]:
    """A workflow that validates and runs in a moment: an 8x8 image previewed."""
    return {
        "format": "graphflow.workflow",
        "version": 1,
        "nodes": {
            "empty": {"type": "graphflow.image.empty", "inputs": {"width": 8, "height": 8}},
            "show": {"type": "graphflow.image.preview", "links": {"images": {"node": "empty", "output": "image"}}},
        },
    }


def _comfy_link(ids: list[str]) -> st.SearchStrategy[Any]:
    index = st.integers(-1, 2) | st.sampled_from((2**70, float("nan"), "0", None))
    return st.tuples(st.sampled_from(ids) | texts(), index).map(list)


@st.composite
def comfy_prompts(draw: st.DrawFn) -> dict[str, Any]:
    """ComfyUI API prompts of cheap nodes with odd inputs and links; some are valid and get queued."""
    ids = draw(st.lists(st.sampled_from(("1", "2", "3")) | texts(), min_size=1, max_size=4, unique=True))
    prompt: dict[str, Any] = {}
    for node_id in ids:
        inputs = draw(st.dictionaries(st.sampled_from(COMFY_INPUTS) | texts(), scalars(), max_size=4))
        inputs.update(draw(st.dictionaries(st.sampled_from(LINKED_INPUTS), _comfy_link(ids), max_size=2)))
        node = {"class_type": draw(st.sampled_from(COMFY_TYPES) | scalars()), "inputs": inputs}
        prompt[node_id] = draw(st.just(node) | json_values(4))
    return prompt


def valid_prompt() -> dict[str, Any]:
    """A ComfyUI prompt that validates and runs in a moment."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


@functools.cache
def request_bodies() -> st.SearchStrategy[Any]:
    """JSON bodies: any value, or an object with the keys the routes read holding odd (or valid) values."""
    field = {key: json_values(6) for key in BODY_KEYS}
    field["workflow"] = graphflow_workflows() | st.just(valid_workflow()) | json_values(6)
    field["prompt"] = comfy_prompts() | st.just(valid_prompt()) | json_values(6)
    field["priority"] = st.sampled_from(BIG_INTS) | scalars()
    return st.fixed_dictionaries({}, optional=field) | json_values()


def nested_json(depth: int, kind: str) -> bytes:
    """JSON nested `depth` levels deep: arrays, objects, or a workflow whose one input holds the nesting."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    inner = "[" * depth + "]" * depth
    return (
        '{"workflow": {"format": "graphflow.workflow", "version": 1, "nodes": {"a": {"type": "graphflow.image.empty",'
        f' "inputs": {{"width": {inner}}}}}}}}}, "prompt": {{"1": {{"class_type": "EmptyImage", "inputs": '
        f'{{"width": {inner}}}}}}}}}'
    ).encode()


# --- images and multipart bodies ------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, text: dict[str, str] | None = None) -> bytes:
    """A PNG claiming `width` x `height` RGB pixels (with `text` chunks) whose pixel data is a stub: its header
    reads as that size, its pixels do not decode."""
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    chunks += [_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in (text or {}).items()]
    chunks += [_chunk(b"IDAT", zlib.compress(b"\0" * 64)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def small_png(text: dict[str, str] | None = None) -> bytes:
    """A real 4x4 PNG (with `text` chunks)."""
    rows = b"".join(b"\0" + b"\x80\x40\x20" * 4 for _ in range(4))
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))]
    chunks += [_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in (text or {}).items()]
    chunks += [_chunk(b"IDAT", zlib.compress(rows)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def multipart(parts: Sequence[tuple[str, bytes | None, bytes]]) -> bytes:
    """A multipart/form-data body of (field name, file name or None, content), written byte by byte so names may
    hold anything (NUL, quotes, line breaks) a client library would refuse to send."""
    out = b""
    for name, filename, content in parts:
        disposition = b'form-data; name="' + name.encode("utf-8", "surrogatepass") + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
    return out + b"--" + BOUNDARY.encode() + b"--\r\n"


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@functools.cache
def _file_names() -> st.SearchStrategy[bytes]:
    odd = (b"a\x00b.png", b"", b"../x.png", b".hidden.png", b"x" * 300 + b".png", b'q"uote.png', b"cr\r\nlf.png")
    odd += (b"\xff\xfe.png", b"\xed\xa0\x80.png", b"sub/x.png", b"cat.png", b"mask.png", b"wf.json")
    return st.sampled_from(odd) | texts().map(lambda t: t.encode())


@functools.cache
def _contents() -> st.SearchStrategy[bytes]:
    workflow = json.dumps(valid_workflow())
    pngs = (small_png(), small_png({"graphflow.workflow": workflow}), small_png({"prompt": json.dumps(valid_prompt())}))
    headers = (png_header(50_000, 50_000), png_header(12_000, 12_000), png_header(1, 1), png_header(0, 0))
    nested = small_png({"graphflow.workflow": "[" * 5000 + "]" * 5000, "prompt": "{" * 3000})
    known = (*pngs, *headers, nested, workflow.encode(), b"", b"GIF89a", b"\x89PNG\r\n\x1a\n")
    return st.sampled_from(known) | st.binary(max_size=64) | json_values().map(lambda v: json.dumps(v).encode())


@functools.cache
def _original_refs() -> st.SearchStrategy[bytes]:
    refs = st.fixed_dictionaries(
        {},
        optional={
            "filename": st.sampled_from(("cat.png", "")) | scalars(),
            "subfolder": scalars(),
            "type": st.sampled_from(("input", "output", "temp", ["input"])) | scalars(),
        },
    )
    return (refs | json_values()).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=16)


@functools.cache
def multipart_parts() -> st.SearchStrategy[list[tuple[str, bytes | None, bytes]]]:
    """Upload forms: the image or file field with odd names and contents, and odd extra fields."""
    files = st.tuples(st.sampled_from(("image", "file")), _file_names() | st.none(), _contents())
    fields = st.tuples(st.just("original_ref"), st.none(), _original_refs()) | st.tuples(
        st.sampled_from(("subfolder", "overwrite", "type", "image", "")) | texts(),
        st.none(),
        texts().map(lambda t: t.encode()) | st.binary(max_size=16),
    )
    return st.lists(files | fields, min_size=1, max_size=4)


# --- requests -------------------------------------------------------------------------------------------------


def _segment(value: str, whole_path: bool) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="/" if whole_path else "")


@st.composite
def targets(draw: st.DrawFn, route: Route, odd_query: bool = False) -> str:
    """The route's path with each placeholder filled by an odd value, and a query string (odd, if asked)."""
    parts = route.path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            whole = part in ("{name}", "{path}")  # these placeholders match across slashes
            parts[i] = _segment(draw(texts().filter(bool) | st.just("x")), whole) or "x"
    target = "/".join(parts)
    if odd_query or draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | texts(), texts()), max_size=4))
        encoded = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in pairs]
        target += "?" + urlencode(encoded)
    assume(len(target) < MAX_REQUEST_LINE)
    return target


def _methods(route: Route) -> st.SearchStrategy[str]:
    return st.just(route.method) | st.sampled_from(("GET", "POST", "PUT", "DELETE", "PATCH"))


@st.composite
def json_requests(draw: st.DrawFn, routes: Sequence[Route]) -> Request:
    """A JSON body (any value, or the fields the routes read) on any route."""
    route = draw(st.sampled_from(routes))
    body = json.dumps(draw(request_bodies())).encode()
    return Request(route, draw(_methods(route)), draw(targets(route)), body, "application/json")


@st.composite
def nested_requests(draw: st.DrawFn, routes: Sequence[Route]) -> Request:
    """JSON nested around and far past the depth the server takes, on any route."""
    route = draw(st.sampled_from(routes))
    depth = draw(st.sampled_from((99, 100, 101, 1_000, 100_000)) | st.integers(90, 20_000))
    body = nested_json(depth, draw(st.sampled_from(("array", "object", "fields"))))
    return Request(route, route.method, draw(targets(route)), body, "application/json")


@st.composite
def raw_requests(draw: st.DrawFn, routes: Sequence[Route]) -> Request:
    """Odd bytes in odd charsets, odd path parts and query strings, on any route."""
    route = draw(st.sampled_from(routes))
    body = draw(st.binary(max_size=64) | st.sampled_from((b"", b"\xff\xfe{", b"{", b'"\\ud800"', b"NaN", b"1e999")))
    content_type = draw(st.sampled_from(CHARSETS) | st.none() | st.just("multipart/form-data"))
    return Request(route, draw(_methods(route)), draw(targets(route, odd_query=True)), body, content_type)


@st.composite
def multipart_requests(draw: st.DrawFn, routes: Sequence[Route]) -> Request:
    """Multipart uploads with odd names and contents, on the routes that take uploads (and now and then others)."""
    uploads = [
        r for r in routes if r.method == "POST" and ("upload" in r.path or "import" in r.path or "extract" in r.path)
    ]
    route = draw(st.sampled_from(uploads) | st.sampled_from(routes))
    body = multipart(draw(multipart_parts()))
    return Request(route, route.method, draw(targets(route)), body, MULTIPART_TYPE)


def any_requests(routes: Sequence[Route]) -> st.SearchStrategy[Request]:
    """Every kind of fuzzed request."""
    kinds = (json_requests, nested_requests, raw_requests, multipart_requests)
    return st.one_of([kind(routes) for kind in kinds])


# --- the server and the rule ----------------------------------------------------------------------------------


class LiveServer:
    """A graphflow server for `config` on a free loopback port, run by an event loop in its own thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-server", daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.routes: list[Route] = []

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(REQUEST_TIMEOUT_S)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        app = create_app(self.config)
        self.runner = web.AppRunner(app, access_log=None)
        self._run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self._run(site.start())
        self.port = self.runner.addresses[0][1]
        self.routes = app_routes(app)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.runner is not None:
            self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(REQUEST_TIMEOUT_S)
        self.loop.close()

    def send(self, request: Request) -> Answer:
        """Send one request on a fresh connection and read the whole answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            headers = {"Content-Type": request.content_type} if request.content_type else {}
            connection.request(request.method, request.target, body=request.body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.read())
        finally:
            connection.close()


def is_error_body(body: bytes) -> bool:
    """Whether `body` is a JSON error: graphflow's {"error", "message"} or ComfyUI's {"error": {"message"}}."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if not isinstance(data, dict) or "error" not in data:
        return False
    error = data["error"]
    return isinstance(data.get("message"), str) or (isinstance(error, dict) and isinstance(error.get("message"), str))


def failure(request: Request, answer: Answer) -> str | None:
    """What is wrong with the answer to `request` (its kind, for counting), or None when it keeps the rule."""
    where = f"{request.method} {request.route.path}"
    if answer.status >= 500:
        return f"{answer.status} {where}"
    if answer.status >= 400 and not is_error_body(answer.body):
        return f"{answer.status} without a JSON error {where}"
    return None


def check(server: LiveServer, request: Request) -> str | None:
    """Send `request`; the kind of failure (a broken rule, or the exception the request ended in), or None."""
    try:
        return failure(request, server.send(request))
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__} {request.method} {request.route.path}"


@contextmanager
def fuzz_server(folder: Path) -> Iterator[LiveServer]:
    """A server whose folders all lie under `folder`, with the built-in nodes only."""
    settings_ = Settings(
        output_dir=folder / "output", temp_dir=folder / "temp", input_dir=folder / "input", models_dir=folder / "models"
    )
    config = ServerConfig(
        settings=settings_,
        user_dir=folder / "user",
        entry_points=False,
        examples_dir=folder / "repo_workflows",
        web_dir=folder / "web",
    )
    with LiveServer(config) as server:
        yield server


def fuzz_routes(cases: int, seed: int) -> tuple[int, Counter[str]]:
    """Fuzz a fresh server with `cases` requests of every kind from `seed`; the cases tried and failures by kind."""
    failures: Counter[str] = Counter()
    tried = 0
    with tempfile.TemporaryDirectory() as folder, fuzz_server(Path(folder)) as server:

        @hypothesis_seed(seed)
        @settings(
            max_examples=cases,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(any_requests(server.routes))
        def case(request: Request) -> None:
            nonlocal tried
            tried += 1
            kind = check(server, request)
            if kind is not None:
                failures[kind] += 1

        case()
    return tried, failures


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz the routes and print the figures; the exit status is 1 when anything failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tried, failures = fuzz_routes(args.cases, args.seed)
    print(f"routes: {tried:,} cases, {sum(failures.values()):,} failures ({time.perf_counter() - started:.1f} s)")
    for kind, count in failures.most_common():
        print(f"    {count:6,}  {kind}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
