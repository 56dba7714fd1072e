"""The built-in primitive, math and text nodes do what their titles say."""

import re

import pytest

from graphflow.plugins import build_plugins
from graphflow.workflow import parse_workflow
from tests.running import executor_for


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    return executor_for(build_plugins(entry_points=False), tmp_path_factory.mktemp("out"))


def compute(executor, node_type, **inputs):
    workflow = parse_workflow(
        {"format": "graphflow.workflow", "version": 1, "nodes": {"n": {"type": node_type, "inputs": inputs}}}
    )
    result = executor.run(workflow, targets=["n"])
    if result.status != "success":
        raise result.error
    return result.outputs["n"]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("add", 7.5), ("subtract", 2.5), ("multiply", 12.5), ("divide", 2.0), ("power", 5.0**2.5), ("min", 2.5)],
)
def test_float_math(executor, operation, expected):
    assert compute(executor, "graphflow.math.float", a=5.0, b=2.5, operation=operation)["result"] == pytest.approx(
        expected
    )


@pytest.mark.parametrize(("operation", "expected"), [("floor_divide", 3), ("modulo", 1), ("max", 7)])
def test_int_math(executor, operation, expected):
    assert compute(executor, "graphflow.math.int", a=7, b=2, operation=operation)["result"] == expected


def test_division_by_zero_names_the_input(executor):
    with pytest.raises(Exception, match="input b is 0") as err:
        compute(executor, "graphflow.math.float", a=1.0, b=0.0, operation="divide")
    assert "node 'n' (graphflow.math.float)" in str(err.value)


def test_random_int_stays_in_range_and_is_not_cached(executor):
    values = {compute(executor, "graphflow.math.random_int", low=0, high=1_000_000)["result"] for _ in range(5)}
    assert len(values) > 1 and all(0 <= v <= 1_000_000 for v in values)


def test_text_nodes(executor):
    assert compute(executor, "graphflow.text.join", first="a", second="b", separator="+")["result"] == "a+b"
    assert compute(executor, "graphflow.text.format_number", value=3.14159, format=".2f")["result"] == "3.14"
    with pytest.raises(Exception, match="bad number format"):
        compute(executor, "graphflow.text.format_number", value=1.0, format="?!")


def test_save_text_refuses_a_prefix_escaping_the_output_folder(executor):
    with pytest.raises(Exception, match=re.escape("without '..'")):
        compute(executor, "graphflow.text.save", text="x", filename_prefix="../escape")


def test_every_builtin_node_annotates_each_run_parameter_so_its_inputs_are_checked():
    import typing

    unannotated = {}
    for spec in build_plugins(entry_points=False).registry.specs.values():
        hints = typing.get_type_hints(spec.cls.run)
        missing = [name for name in [*spec.inputs, "return"] if name not in hints]
        if missing:
            unannotated[spec.type_id] = missing
    assert unannotated == {}
