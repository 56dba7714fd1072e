"""The executor runs only what changed, caches under structural keys, and fails or stops cleanly."""

import threading

import pytest

from graphflow.cache import OutputCache
from graphflow.context import CancelToken
from graphflow.hookspecs import hookimpl
from graphflow.runs import NodeExecutionError
from graphflow.workflow import parse_workflow
from tests.running import executor_for


def wf(nodes):
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def link(node, output="result"):
    return {"node": node, "output": output}


def twenty_node_graph(deep_value: float = 1.0) -> dict:
    """A 20-node graph: two chains of adders that merge, one literal deep in the first chain."""
    nodes = {"root": {"type": "test.value", "inputs": {"value": 1.0}}}
    for i in range(1, 9):
        nodes[f"left{i}"] = {
            "type": "test.add",
            "inputs": {"b": deep_value if i == 4 else 1.0},
            "links": {"a": link("root" if i == 1 else f"left{i - 1}")},
        }
        nodes[f"right{i}"] = {
            "type": "test.add",
            "inputs": {"b": 2.0},
            "links": {"a": link("root" if i == 1 else f"right{i - 1}")},
        }
    nodes["merge"] = {"type": "test.add", "links": {"a": link("left8"), "b": link("right8")}}
    nodes["sink"] = {"type": "test.sink", "links": {"value": link("merge")}}
    nodes["unused"] = {"type": "test.value"}
    assert len(nodes) == 20
    return nodes


def test_changing_one_literal_reruns_only_that_node_and_its_descendants(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    first = executor.run(wf(twenty_node_graph()))
    assert first.status == "success" and len(counting_plugins.runs) == 19  # "unused" never runs
    assert first.ui["sink"]["values"] == [9.0 + 17.0]
    counting_plugins.runs.clear()
    second = executor.run(wf(twenty_node_graph(deep_value=5.0)))
    assert counting_plugins.runs == ["left4", "left5", "left6", "left7", "left8", "merge", "sink"]
    assert second.ui["sink"]["values"] == [13.0 + 17.0]
    assert set(second.cached) == {"root", *(f"right{i}" for i in range(1, 9)), "left1", "left2", "left3"}


def test_an_identical_rerun_executes_nothing(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    executor.run(wf(twenty_node_graph()))
    counting_plugins.runs.clear()
    again = executor.run(wf(twenty_node_graph()))
    assert counting_plugins.runs == [] and again.executed == [] and len(again.cached) == 19
    assert again.ui["sink"]["values"] == [26.0]


def test_node_ids_are_not_part_of_the_cache_key(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    executor.run(
        wf(
            {
                "a": {"type": "test.value", "inputs": {"value": 3.0}},
                "s": {"type": "test.sink", "links": {"value": link("a")}},
            }
        )
    )
    counting_plugins.runs.clear()
    executor.run(
        wf(
            {
                "renamed": {"type": "test.value", "inputs": {"value": 3.0}},
                "s2": {"type": "test.sink", "links": {"value": link("renamed")}},
            }
        )
    )
    assert counting_plugins.runs == []


def test_uncacheable_nodes_always_run_and_so_do_their_descendants(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    nodes = {
        "v": {"type": "test.value"},
        "n": {"type": "test.noisy", "links": {"value": link("v")}},
        "a": {"type": "test.add", "links": {"a": link("n")}},
        "s": {"type": "test.sink", "links": {"value": link("a")}},
    }
    executor.run(wf(nodes))
    counting_plugins.runs.clear()
    executor.run(wf(nodes))
    assert counting_plugins.runs == ["n", "a", "s"]


def test_a_failing_node_names_itself_and_its_inputs_and_finished_nodes_stay_cached(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    nodes = {
        "v": {"type": "test.value", "inputs": {"value": 7.0}},
        "f": {"type": "test.fail", "links": {"value": link("v")}},
        "s": {"type": "test.sink", "links": {"value": link("f")}},
    }
    result = executor.run(wf(nodes))
    assert result.status == "error" and isinstance(result.error, NodeExecutionError)
    assert result.error.node_id == "f"
    message = str(result.error)
    assert "node 'f' (test.fail) failed: RuntimeError: boom" in message and "value=<FLOAT from 'v'.result>" in message
    counting_plugins.runs.clear()
    executor.run(wf(nodes))
    assert "v" not in counting_plugins.runs


def test_a_wrong_return_value_is_an_error_naming_the_node(plugin_dir, tmp_path):
    from graphflow.plugins import build_plugins

    folder = plugin_dir(
        "odd",
        """
        from graphflow.api import FLOAT, Output, hookimpl, node

        @node("odd.pair", version="1.0.0", output=True)
        class Pair:
            x = Output(FLOAT)
            y = Output(FLOAT)
            def run(self, ctx):
                return {"x": 1.0}

        @hookimpl
        def register_nodes(register):
            register(Pair)
    """,
    )
    result = executor_for(build_plugins(folder, entry_points=False), tmp_path).run(wf({"p": {"type": "odd.pair"}}))
    assert result.status == "error" and "node 'p'" in str(result.error) and "['x', 'y']" in str(result.error)


RETURNS = """
from typing import NamedTuple

from graphflow.api import FLOAT, INT, Output, hookimpl, node


class Pair(NamedTuple):
    x: float
    y: float


@node("ret.named", version="1.0.0", output=True)
class Named:
    x = Output(FLOAT)
    y = Output(FLOAT)
    def run(self, ctx) -> Pair:
        return Pair(1.0, 2.0)


@node("ret.positional", version="1.0.0", output=True)
class Positional:
    x = Output(FLOAT)
    y = Output(FLOAT)
    def run(self, ctx):
        return 1.0, 2.0


@node("ret.strings", version="1.0.0", output=True)
class Strings:
    count = Output(INT)
    def run(self, ctx):
        return "a", "b", "c"


@node("ret.nan", version="1.0.0", output=True)
class NotANumber:
    x = Output(FLOAT)
    def run(self, ctx):
        return float("nan")


@hookimpl
def register_nodes(register):
    for cls in (Named, Positional, Strings, NotANumber):
        register(cls)
"""


@pytest.mark.parametrize(
    ("node_type", "outcome"),
    [
        ("ret.named", {"x": 1.0, "y": 2.0}),
        ("ret.positional", "a node with several outputs returns a dict or a NamedTuple naming them: x, y"),
        ("ret.strings", "output 'count' must be INT, but run() gave tuple ('a', 'b', 'c')"),
        ("ret.nan", "output 'x' must be FLOAT, but run() gave float nan (nan is not a finite number)"),
    ],
)
def test_outputs_come_back_by_name_and_of_their_declared_type(plugin_dir, tmp_path, node_type, outcome):
    from graphflow.plugins import build_plugins

    plugins = build_plugins(plugin_dir("returns", RETURNS), entry_points=False)
    result = executor_for(plugins, tmp_path).run(wf({"n": {"type": node_type}}))
    if isinstance(outcome, dict):
        assert result.status == "success" and result.outputs["n"] == outcome
    else:
        assert result.status == "error" and outcome in str(result.error) and "node 'n'" in str(result.error)


def test_a_node_returning_three_strings_for_one_int_output_fails_with_an_output_error_naming_both(plugin_dir, tmp_path):
    from graphflow.plugins import build_plugins
    from graphflow.runs import NodeExecutionError, NodeOutputError

    plugins = build_plugins(plugin_dir("returns", RETURNS), entry_points=False)
    result = executor_for(plugins, tmp_path).run(wf({"n": {"type": "ret.strings"}}))
    assert result.status == "error" and isinstance(result.error, NodeExecutionError)
    assert result.error.node_id == "n" and isinstance(result.error.cause, NodeOutputError)
    assert str(result.error.cause) == "output 'count' must be INT, but run() gave tuple ('a', 'b', 'c')"


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def on_run_start(self, run):
        self.events.append(("start",))

    @hookimpl
    def on_nodes_cached(self, run, node_ids):
        self.events.append(("cached", tuple(node_ids)))

    @hookimpl
    def on_node_start(self, run, node_id):
        self.events.append(("node", node_id))

    @hookimpl
    def on_progress(self, run, node_id, step, total, preview):
        self.events.append(("progress", node_id, step, total))

    @hookimpl
    def on_node_end(self, run, node_id, ui, seconds):
        self.events.append(("done", node_id))

    @hookimpl
    def on_node_error(self, run, node_id, error):
        self.events.append(("error", node_id))

    @hookimpl
    def on_run_end(self, run, status, error):
        self.events.append(("end", status))


def test_hooks_observe_every_event_of_a_run(counting_plugins, tmp_path):
    recorder = Recorder()
    counting_plugins.manager.register(recorder)
    executor = executor_for(counting_plugins, tmp_path)
    nodes = {
        "st": {"type": "test.steps", "inputs": {"steps": 2}},
        "s": {"type": "test.sink", "links": {"value": link("st")}},
    }
    executor.run(wf(nodes))
    assert recorder.events == [
        ("start",),
        ("node", "st"),
        ("progress", "st", 1, 2),
        ("progress", "st", 2, 2),
        ("done", "st"),
        ("node", "s"),
        ("done", "s"),
        ("end", "success"),
    ]
    recorder.events.clear()
    executor.run(wf({**nodes, "f": {"type": "test.fail"}, "s2": {"type": "test.sink", "links": {"value": link("f")}}}))
    assert ("cached", ("st", "s")) in recorder.events and ("error", "f") in recorder.events
    assert recorder.events[-1] == ("end", "error")


def test_a_broken_observer_does_not_fail_the_run(counting_plugins, tmp_path):
    class Broken:
        @hookimpl
        def on_node_start(self, run, node_id):
            raise RuntimeError("observer bug")

    counting_plugins.manager.register(Broken())
    result = executor_for(counting_plugins, tmp_path).run(wf({"s": {"type": "test.sink", "inputs": {"value": 1.0}}}))
    assert result.status == "success"


def test_cancellation_is_honoured_inside_a_node_and_between_nodes(counting_plugins, tmp_path):
    token = CancelToken()

    class CancelAtFirstStep:
        @hookimpl
        def on_progress(self, run, node_id, step, total, preview):
            token.cancel()

    counting_plugins.manager.register(CancelAtFirstStep())
    nodes = {
        "st": {"type": "test.steps", "inputs": {"steps": 50}},
        "s": {"type": "test.sink", "links": {"value": link("st")}},
    }
    result = executor_for(counting_plugins, tmp_path).run(wf(nodes), cancel=token)
    assert result.status == "cancelled" and "s" not in counting_plugins.runs
    cancelled = CancelToken()
    cancelled.cancel()
    counting_plugins.runs.clear()
    result = executor_for(counting_plugins, tmp_path).run(
        wf({"s": {"type": "test.sink", "inputs": {"value": 1.0}}}), cancel=cancelled
    )
    assert result.status == "cancelled" and counting_plugins.runs == []


def test_cache_is_bounded_and_evicts_least_recently_used(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path, cache=OutputCache(max_entries=2))
    for value in (1.0, 2.0, 3.0):
        executor.run(wf({"v": {"type": "test.value", "inputs": {"value": value}}}), targets=["v"])
    assert len(executor.cache) == 2
    counting_plugins.runs.clear()
    executor.run(wf({"v": {"type": "test.value", "inputs": {"value": 1.0}}}), targets=["v"])
    assert counting_plugins.runs == ["v"]  # evicted first
    executor.run(wf({"v": {"type": "test.value", "inputs": {"value": 3.0}}}), targets=["v"])
    assert counting_plugins.runs == ["v"]  # still cached


def test_runs_from_several_threads_share_the_cache(counting_plugins, tmp_path):
    executor = executor_for(counting_plugins, tmp_path)
    results = []
    threads = [
        threading.Thread(
            target=lambda v=v: results.append(
                executor.run(
                    wf(
                        {
                            "v": {"type": "test.value", "inputs": {"value": float(v)}},
                            "s": {"type": "test.sink", "links": {"value": link("v")}},
                        }
                    )
                )
            )
        )
        for v in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.ui["s"]["values"][0] for r in results) == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("max_bytes", [64])
def test_byte_bound_keeps_nothing_larger_than_the_budget(max_bytes):
    cache = OutputCache(max_bytes=max_bytes)
    cache.put("big", {"x": b"0" * 1000}, {})
    assert "big" not in cache and cache.nbytes == 0


def test_a_fingerprint_change_reruns_the_node_even_with_the_same_inputs(plugin_dir, tmp_path):
    from graphflow.plugins import build_plugins

    watched = tmp_path / "watched.txt"
    watched.write_text("one")
    folder = plugin_dir(
        "files",
        """
        from graphflow.api import STRING, Input, Output, hookimpl, node

        READS = []

        @node("files.read", version="1.0.0")
        class Read:
            path = Input(STRING)
            text = Output(STRING)

            @staticmethod
            def fingerprint(path=None, **_):
                from pathlib import Path
                return Path(path).read_text()

            def run(self, ctx, path):
                READS.append(path)
                from pathlib import Path
                return Path(path).read_text()

        @hookimpl
        def register_nodes(register):
            register(Read)
    """,
    )
    executor = executor_for(build_plugins(folder, entry_points=False), tmp_path)
    workflow = wf({"r": {"type": "files.read", "inputs": {"path": str(watched)}}})
    assert executor.run(workflow, targets=["r"]).outputs["r"]["text"] == "one"
    assert executor.run(workflow, targets=["r"]).executed == []
    watched.write_text("two")
    assert executor.run(workflow, targets=["r"]).outputs["r"]["text"] == "two"
