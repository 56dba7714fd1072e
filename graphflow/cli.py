"""`graphflow run|validate|nodes|schema`: the command line.

Exit status: 0 done, 1 a run (or anything else) failed, 2 an invalid workflow, file or command line,
130 interrupted. Problems are printed, never a traceback unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphflow.executor import Executor
from graphflow.graph import WorkflowInvalid, validate
from graphflow.hookspecs import hookimpl
from graphflow.interop import load_any
from graphflow.models.options import add_model_folder_arguments, add_model_speed_arguments, model_settings
from graphflow.plugins import PLUGINS_ENV, Plugins, build_plugins
from graphflow.problems import ValidationIssue, shown, summarise
from graphflow.registry import Registry
from graphflow.resources import ExampleNotFoundError, example_workflow, list_examples
from graphflow.runs import RunInfo
from graphflow.settings import DEVICES, Settings
from graphflow.workflow import Workflow, WorkflowFileError, save_workflow


class UsageError(Exception):
    """A mistake on the command line, reported as one line."""


INVALID, FAILED, INTERRUPTED = 2, 1, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `graphflow` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return INVALID
    try:
        return args.handler(args)
    except SystemExit:
        raise
    except BaseException as exc:  # every way out ends here: a status and a clear line, the traceback on request
        if args.debug:
            traceback.print_exc()
        return _report(exc, getattr(args, "workflow", None) or getattr(args, "file", None) or "graphflow")


def _report(exc: BaseException, source: str) -> int:
    """Say what went wrong in a line (or a short list of a file's problems) and give the exit status."""
    if isinstance(exc, WorkflowFileError) and len(exc.issues) > 1:
        _print_issues(exc.issues, source)
        return INVALID
    if isinstance(exc, UsageError | WorkflowFileError | ExampleNotFoundError):
        print(f"graphflow: error: {exc}", file=sys.stderr)
        return INVALID
    if isinstance(exc, KeyboardInterrupt):
        print("graphflow: interrupted", file=sys.stderr)
        return INTERRUPTED
    if isinstance(exc, OSError):
        print(f"graphflow: error: {exc}", file=sys.stderr)
        return FAILED
    print(f"graphflow: error: unexpected {type(exc).__name__}: {exc} (run with --debug to see where)", file=sys.stderr)
    return FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphflow", description="Node-based workflows for diffusion images.")
    parser.add_argument("--plugins", metavar="DIR", help="also load plugins from this folder (or GRAPHFLOW_PLUGINS)")
    parser.add_argument("--debug", action="store_true", help="print the traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a workflow (.json, or a .png that carries one; graphflow or ComfyUI format)")
    run.add_argument("workflow", help="a file, or the name of an example workflow (see `graphflow examples`)")
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="override a node's input (repeatable)",
    )
    run.add_argument("--output", default="output", metavar="DIR", help="folder for saved files (default: output)")
    _add_folder_options(run)
    run.add_argument("--device", choices=DEVICES, help="where models run (default: GRAPHFLOW_DEVICE or auto)")
    run.add_argument("--quiet", action="store_true", help="print only errors and the saved files")
    add_model_speed_arguments(run)
    run.set_defaults(handler=_cmd_run)

    check = sub.add_parser("validate", help="check a workflow and list every problem")
    check.add_argument("workflow", help="a file, or the name of an example workflow")
    check.add_argument("--json", action="store_true", help="print problems as JSON")
    _add_folder_options(check)
    check.set_defaults(handler=_cmd_validate)

    nodes = sub.add_parser("nodes", help="list the available node types")
    nodes.add_argument("--json", action="store_true", help="print every node's full schema as JSON")
    nodes.set_defaults(handler=_cmd_nodes)

    imports = sub.add_parser("import", help="convert another tool's workflow file to graphflow's format")
    imports.add_argument("tool", choices=("comfy",), help="the tool the file comes from")
    imports.add_argument("file", help="a ComfyUI workflow (API or UI format, .json or a .png carrying one)")
    imports.add_argument("-o", "--output", metavar="OUT", help="write the graphflow workflow here (default: stdout)")
    imports.set_defaults(handler=_cmd_import)

    examples = sub.add_parser("examples", help="list the example workflows shipped with graphflow")
    examples.set_defaults(handler=_cmd_examples)

    schema = sub.add_parser("schema", help="print the JSON Schema of the workflow file format")
    schema.set_defaults(handler=_cmd_schema)

    for command in (run, check, nodes, imports, examples, schema):  # also after the command: `run x --debug`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    from graphflow.server.cli import add_serve_command

    add_serve_command(sub)
    return parser


def _add_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", metavar="DIR", help="folder of input images (default: GRAPHFLOW_INPUT_DIR or ./input)"
    )
    parser.add_argument("--models", metavar="DIR", help="models root (default: GRAPHFLOW_MODELS_DIR or ./models)")
    add_model_folder_arguments(parser)


def plugins_folder(args: argparse.Namespace) -> str | None:
    """The local plugins folder: --plugins, else GRAPHFLOW_PLUGINS (read once, at start-up)."""
    return getattr(args, "plugins", None) or os.environ.get(PLUGINS_ENV) or None


def _load_plugins(args: argparse.Namespace) -> Plugins:
    plugins = build_plugins(plugins_folder(args))
    for problem in plugins.registry.problems:
        print(f"graphflow: warning: {problem}", file=sys.stderr)
    return plugins


def _workflow_path(name: str) -> Path:
    """A workflow file as given, or the shipped example of that name."""
    path = Path(name)
    return path if path.exists() else example_workflow(name)


def _cmd_run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    settings = Settings.from_environment(
        models_dir=args.models,
        input_dir=args.input,
        output_dir=output,
        temp_dir=output / ".temp",
        device=args.device,
        **model_settings(args),
    )
    plugins = _load_plugins(args)
    workflow = apply_overrides(load_any(_workflow_path(args.workflow), plugins.registry), args.sets, plugins.registry)
    plugins.manager.register(_ConsoleReporter(quiet=args.quiet), name="graphflow.cli-reporter")
    if args.quiet:
        from graphflow.models.quiet import hide_library_progress_bars

        hide_library_progress_bars()
    executor = Executor(plugins.registry, plugins.hooks, settings)
    try:
        result = executor.run(workflow)
    except WorkflowInvalid as exc:
        _print_issues(exc.issues, args.workflow)
        return INVALID
    if result.status == "error":
        print(f"graphflow: {result.error}", file=sys.stderr)
        if args.debug and result.error is not None:
            traceback.print_exception(result.error)
        return FAILED
    if result.status == "cancelled":
        print("graphflow: run cancelled", file=sys.stderr)
        return INTERRUPTED
    for ui in result.ui.values():
        for items in ui.values():
            for item in items:
                if isinstance(item, dict) and "filename" in item:
                    print(output / item.get("subfolder", "") / item["filename"])
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    settings = Settings.from_environment(models_dir=args.models, input_dir=args.input, **model_settings(args))
    plugins = _load_plugins(args)
    try:
        workflow = load_any(_workflow_path(args.workflow), plugins.registry)
    except WorkflowFileError as exc:
        if not args.json:
            raise
        issues = exc.issues
    else:
        issues = validate(workflow, plugins.registry, settings)
    if args.json:
        print(json.dumps([i.to_dict() for i in issues], indent=2))
    elif issues:
        _print_issues(issues, args.workflow)
    else:
        print(f"{args.workflow}: valid ({len(workflow.nodes)} nodes)")
    return INVALID if issues else 0


def _cmd_nodes(args: argparse.Namespace) -> int:
    registry = _load_plugins(args).registry
    catalogue = registry.catalogue(Settings.from_environment())
    if args.json:
        print(json.dumps(catalogue, indent=2, default=str))
        return 0
    for schema in catalogue:
        ins = ", ".join(f"{i['name']}: {i['type']}" for i in schema["inputs"]) or "-"
        outs = ", ".join(f"{o['name']}: {o['type']}" for o in schema["outputs"]) or "-"
        flag = " [output]" if schema["output_node"] else ""
        print(
            f"{schema['type']} {schema['version']} ({schema['plugin']}){flag}\n  {schema['title']}: "
            f"{schema['description'].splitlines()[0] if schema['description'] else ''}\n"
            f"  inputs: {ins}\n  outputs: {outs}"
        )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    workflow = load_any(args.file, _load_plugins(args).registry)
    if args.output:
        save_workflow(workflow, args.output)
        print(f"{args.file}: {len(workflow.nodes)} nodes written to {args.output}", file=sys.stderr)
    else:
        print(workflow.to_json())
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    for name in list_examples():
        print(name.removesuffix(".json"))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Workflow.model_json_schema(), indent=2))
    return 0


def apply_overrides(workflow: Workflow, sets: list[str], registry: Registry) -> Workflow:
    """Apply `NODE.INPUT=VALUE` overrides, converting VALUE to the input's type; a link is replaced."""
    for item in sets:
        target, sep, raw = item.partition("=")
        node_id, dot, input_name = target.rpartition(".")
        if not sep or not dot or not node_id or not input_name:
            raise UsageError(f"--set {item!r}: expected NODE.INPUT=VALUE")
        entry = workflow.nodes.get(node_id)
        if entry is None:
            raise UsageError(f"--set {item!r}: no node {node_id!r} (nodes: {', '.join(workflow.nodes)})")
        spec = registry.get(entry.type)
        field_ = spec.inputs.get(input_name) if spec else None
        if spec is not None and field_ is None:
            raise UsageError(
                f"--set {item!r}: node {node_id!r} ({entry.type}) has no input {input_name!r} "
                f"(it has: {', '.join(spec.inputs)})"
            )
        entry.inputs[input_name] = _parse_value(raw, field_.type.name if field_ else None)
        entry.links.pop(input_name, None)
    return workflow


def _parse_value(raw: str, type_name: str | None) -> Any:
    if type_name not in ("INT", "FLOAT", "BOOLEAN", None):
        return raw  # text and enumerations are taken as written
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, a number past Python's digit limit, nested too deeply
        if type_name is None:
            return raw
        raise UsageError(f"{shown(raw)} is not a valid {type_name}") from None


def _print_issues(issues: list[ValidationIssue], source: str) -> None:
    """Every problem (summarised past twenty: `validate --json` lists them all)."""
    print(f"{source}: {len(issues):,} problem{'s' if len(issues) != 1 else ''}", file=sys.stderr)
    for line in summarise(issues):
        print(f"  - {line}", file=sys.stderr)


class _ConsoleReporter:
    """Prints a run's progress to stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self.last_bar = 0.0

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    @hookimpl
    def on_run_start(self, run: RunInfo) -> None:
        self.total = len(run.plan.order)
        self._say(f"running {self.total} node{'s' if self.total != 1 else ''}")

    @hookimpl
    def on_nodes_cached(self, run: RunInfo, node_ids: list[str]) -> None:
        self.done += len(node_ids)
        self._say(f"  {len(node_ids)} from cache")

    @hookimpl
    def on_node_start(self, run: RunInfo, node_id: str) -> None:
        self.done += 1
        self._say(f"  [{self.done}/{self.total}] {node_id} ({run.plan.nodes[node_id].spec.type_id})")

    @hookimpl
    def on_progress(self, run: RunInfo, node_id: str, step: int, total: int, preview: Any) -> None:
        now = time.monotonic()
        if self.quiet or (now - self.last_bar < 0.2 and step < total):
            return
        self.last_bar = now
        filled = int(30 * step / max(total, 1))
        end = "\n" if step >= total else "\r"
        print(f"      [{'#' * filled}{'.' * (30 - filled)}] {step}/{total}", end=end, file=sys.stderr, flush=True)

    @hookimpl
    def on_run_end(self, run: RunInfo, status: str, error: BaseException | None) -> None:
        self._say(f"{status} in {time.perf_counter() - run.started:.2f}s")


if __name__ == "__main__":
    sys.exit(main())
