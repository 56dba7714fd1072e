"""A sweep expands a workflow into children over seeds or a grid of values; bad sweeps name the axis at fault."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow
from graphflow.api import INT, Context, Input, Output, node
from graphflow.registry import Registry
from graphflow.sweep import MAX_CHILDREN, Axis, Sweep, SweepInvalid, check, expand, parse_sweep
from graphflow.workflow import load_workflow, parse_workflow

TXT2IMG = Path(graphflow.__file__).parent / "workflows" / "txt2img.json"
SAMPLERS = ["euler", "heun", "dpmpp_2m"]
STEPS = [10, 20, 30]


@pytest.fixture(scope="module")
def txt2img():
    return load_workflow(TXT2IMG)


@node("test.sweepable", version="1.0.0", category="test")
class Sweepable:
    """A node with a defaulted number and a number that only comes over a link."""

    steps = Input(INT, default=20)
    offset = Input(INT, source="link", optional=True)
    result = Output(INT)

    def run(self, ctx: Context, steps: int, offset: int | None) -> int:
        return steps


def workflow_of(nodes):
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def registry_with_sweepable() -> Registry:
    registry = Registry()
    registry.add_plugin_nodes("test", [Sweepable])
    return registry


def sampler_by_steps() -> Sweep:
    return Sweep((Axis("sampler", "sampler_name", SAMPLERS, label="sampler"), Axis("sampler", "steps", STEPS)))


def issue_of(excinfo):
    (issue,) = excinfo.value.issues
    return issue


def test_a_three_by_three_grid_of_sampler_and_steps_makes_nine_children_with_their_inputs_and_labels(txt2img):
    children = expand(txt2img, sampler_by_steps())

    assert [c.coords for c in children] == [(x, y) for y in range(3) for x in range(3)]
    for child in children:
        x, y = child.coords
        sampler = child.workflow.nodes["sampler"]
        assert (sampler.inputs["sampler_name"], sampler.inputs["steps"]) == (SAMPLERS[x], STEPS[y])
        assert child.labels == (f"sampler: {SAMPLERS[x]}", f"steps: {STEPS[y]}")
        assert sampler.inputs["seed"] == 42 and set(sampler.links) == {"model", "positive", "negative", "latent"}
    assert txt2img.nodes["sampler"].inputs["steps"] == 20, "the parent workflow is left as it was"


def test_each_child_is_a_deep_copy_so_changing_one_changes_no_other(txt2img):
    first, second = expand(txt2img, Sweep.seeds("sampler", count=2))

    first.workflow.nodes["prompt"].inputs["text"] = "changed"
    first.workflow.ui["nodes"]["prompt"]["pos"][0] = -1

    assert second.workflow.nodes["prompt"].inputs["text"] == txt2img.nodes["prompt"].inputs["text"]
    assert second.workflow.ui["nodes"]["prompt"]["pos"][0] == txt2img.ui["nodes"]["prompt"]["pos"][0]


def test_a_swept_input_that_was_linked_takes_the_value_and_loses_its_link(txt2img):
    children = expand(txt2img, Sweep((Axis("decode", "latent", [1, 2]),)))

    assert [c.workflow.nodes["decode"].inputs["latent"] for c in children] == [1, 2]
    assert all("latent" not in c.workflow.nodes["decode"].links for c in children)
    assert "latent" in txt2img.nodes["decode"].links


def test_the_seeds_shortcut_runs_consecutive_seeds_labelled_seed(txt2img):
    children = expand(txt2img, Sweep.seeds("sampler", count=4, start=100))

    assert [c.workflow.nodes["sampler"].inputs["seed"] for c in children] == [100, 101, 102, 103]
    assert [c.labels for c in children] == [(f"seed: {s}",) for s in range(100, 104)]
    assert [c.coords for c in children] == [(i,) for i in range(4)]


def test_three_axes_make_pages_with_x_varying_fastest_then_y_then_z(txt2img):
    sweep = Sweep(
        (Axis("sampler", "steps", [1, 2]), Axis("sampler", "cfg", [3.0, 7.5]), Axis("sampler", "seed", [0, 9]))
    )

    children = expand(txt2img, sweep)

    assert [c.coords for c in children] == [(x, y, z) for z in range(2) for y in range(2) for x in range(2)]
    assert children[-1].labels == ("steps: 2", "cfg: 7.5", "seed: 9")


def test_value_labels_write_text_plainly_and_other_scalars_as_json():
    axis = Axis("n", "value", ["dpmpp 2m", 1.5, True, None, "x" * 500], label="what")

    labels = axis.labels()

    assert labels[:4] == ["what: dpmpp 2m", "what: 1.5", "what: true", "what: null"]
    assert len(labels[4]) < 120 and labels[4].endswith("...")


def test_a_missing_node_is_named_with_its_axis(txt2img):
    with pytest.raises(SweepInvalid) as excinfo:
        expand(txt2img, Sweep((Axis("sampler", "steps", [1]), Axis("ksampler", "cfg", [7.0]))))

    issue = issue_of(excinfo)
    assert (issue.node_id, issue.input, issue.kind) == ("ksampler", "cfg", "missing_node")
    assert "Y axis (node 'ksampler', input 'cfg')" in str(excinfo.value)


def test_an_input_the_node_neither_sets_nor_links_is_refused_naming_what_it_has(txt2img):
    with pytest.raises(SweepInvalid) as excinfo:
        expand(txt2img, Sweep((Axis("sampler", "stepz", [1, 2]),)))

    issue = issue_of(excinfo)
    assert (issue.node_id, issue.input, issue.kind) == ("sampler", "stepz", "unknown_input")
    assert "X axis" in issue.message and "'steps'" in issue.message


def test_with_a_registry_a_declared_input_left_at_its_default_can_be_swept():
    workflow = workflow_of({"n": {"type": "test.sweepable"}})

    children = expand(workflow, Sweep((Axis("n", "steps", [5, 6]),)), registry_with_sweepable())

    assert [c.workflow.nodes["n"].inputs for c in children] == [{"steps": 5}, {"steps": 6}]


def test_with_a_registry_an_undeclared_input_and_a_link_only_input_are_refused():
    workflow = workflow_of({"n": {"type": "test.sweepable", "inputs": {"stepz": 1}}})
    sweep = Sweep((Axis("n", "stepz", [1]), Axis("n", "offset", [1])))

    issues = check(sweep, workflow, registry_with_sweepable())

    assert [(i.input, i.kind) for i in issues] == [("stepz", "unknown_input"), ("offset", "invalid_literal")]
    assert "test.sweepable has no such input" in issues[0].message
    assert "takes only a link (INT)" in issues[1].message


def test_too_many_children_are_refused_before_any_is_made(txt2img):
    sweep = Sweep((Axis("sampler", "steps", list(range(1, 21))), Axis("sampler", "seed", list(range(20)))))

    with pytest.raises(SweepInvalid) as excinfo:
        expand(txt2img, sweep, limit=256)

    assert "20 x 20 = 400 children, more than the limit of 256" in str(excinfo.value)


def test_a_huge_seed_run_is_refused_without_reading_its_values(txt2img):
    issues = check(Sweep.seeds("sampler", count=10**12), txt2img)

    assert [i.kind for i in issues] == ["invalid_sweep"]
    assert "1,000,000,000,000 children" in issues[0].message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([1, 2], "is a list, not a JSON scalar"),
        ({"a": 1}, "is an object, not a JSON scalar"),
        (float("nan"), "is nan, which JSON cannot carry"),
        (2**70, "is an integer of more than 64 bits"),
    ],
)
def test_a_value_that_is_not_a_json_scalar_is_named_by_its_axis_and_position(txt2img, value, says):
    with pytest.raises(SweepInvalid) as excinfo:
        expand(txt2img, Sweep((Axis("sampler", "cfg", [7.0, value]),)))

    issue = issue_of(excinfo)
    assert (issue.node_id, issue.input, issue.kind) == ("sampler", "cfg", "invalid_literal")
    assert f"X axis (node 'sampler', input 'cfg'): values[1] {says}" in issue.message


def test_axes_count_empty_values_and_a_twice_swept_input_are_all_reported_at_once(txt2img):
    axis = Axis("sampler", "steps", [1])
    sweep = Sweep((axis, Axis("sampler", "cfg", []), axis, axis))

    messages = [i.message for i in check(sweep, txt2img)]

    assert "a sweep has 1 to 3 axes (X, Y and Z), not 4" in messages
    assert "Y axis (node 'sampler', input 'cfg'): the axis has no values" in messages
    assert any("Z axis sweeps node 'sampler', input 'steps' again (the X axis does already)" in m for m in messages)


def test_a_json_body_of_axes_parses_into_a_sweep():
    body = {
        "axes": [
            {"node": "sampler", "input": "sampler_name", "values": SAMPLERS, "label": "sampler"},
            {"node": "sampler", "input": "steps", "values": STEPS},
        ]
    }

    assert parse_sweep(body) == Sweep(
        (Axis("sampler", "sampler_name", tuple(SAMPLERS), "sampler"), Axis("sampler", "steps", tuple(STEPS)))
    )


def test_a_json_body_of_seeds_parses_with_seed_and_zero_as_defaults(txt2img):
    sweep = parse_sweep({"seeds": {"node": "sampler", "count": 3}})

    assert [c.workflow.nodes["sampler"].inputs["seed"] for c in expand(txt2img, sweep)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "sweep: must be a JSON object, not a list"),
        ({}, "sweep: give either 'axes' (a grid of values) or 'seeds' (a run of seeds)"),
        ({"axes": [], "seeds": {}}, "sweep: give either 'axes'"),
        ({"axis": []}, "sweep.axis: is not a field here (known: axes, seeds)"),
        ({"axes": {}}, "axes: must be a list of 1 to 3 axes (X, Y and Z)"),
        ({"axes": [{"node": "3", "input": "steps", "values": [1]}] * 4}, "axes: must be a list of 1 to 3 axes"),
        ({"axes": [{"node": "3", "values": [1]}]}, "axes[0].input: is missing"),
        (
            {"axes": [{"node": 3, "input": "steps", "values": [1]}]},
            "axes[0].node: must be non-empty text, not a num",
        ),
        ({"axes": [{"node": "3", "input": "steps", "values": []}]}, "axes[0].values: must be a non-empty list"),
        ({"axes": [{"node": "3", "input": "s", "values": [1], "label": 5}]}, "axes[0].label: must be non-empty text"),
        ({"seeds": {"node": "3"}}, "seeds.count: is missing"),
        ({"seeds": {"node": "3", "count": 0}}, f"seeds.count: must be a whole number from 1 to {MAX_CHILDREN}"),
        ({"seeds": {"node": "3", "count": 2, "start": "0"}}, "seeds.start: must be a whole number"),
        ({"seeds": {"node": "3", "count": True}}, "seeds.count: must be a whole number"),
    ],
)
def test_a_bad_json_body_names_the_field_at_fault(body, says):
    with pytest.raises(SweepInvalid) as excinfo:
        parse_sweep(body)

    assert says in str(excinfo.value)
    assert all(i.kind == "invalid_sweep" for i in excinfo.value.issues)


def test_every_field_at_fault_in_a_body_is_reported_at_once():
    body = {"axes": [{"node": "", "input": "steps", "values": 3}, {"input": "cfg", "values": [1]}]}

    with pytest.raises(SweepInvalid) as excinfo:
        parse_sweep(body)

    assert [i.message.split(":")[0] for i in excinfo.value.issues] == ["axes[0].node", "axes[0].values", "axes[1].node"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(body=st.dictionaries(st.sampled_from(["axes", "seeds", "x"]), JSON, max_size=2) | JSON)
def test_any_json_body_parses_and_expands_or_raises_sweep_invalid(body):
    workflow = workflow_of({"n": {"type": "test.sweepable", "inputs": {"steps": 1}}})
    try:
        sweep = parse_sweep(body)
    except SweepInvalid as exc:
        assert exc.issues and str(exc).startswith("sweep is invalid: ")
        return
    try:
        children = expand(workflow, sweep)
    except SweepInvalid as exc:
        assert all(issue.message for issue in exc.issues)
        return
    assert len(children) == sweep.size
