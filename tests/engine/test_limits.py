"""The limits a server owner sets (pixels, batch, steps) are checked at validation, before anything runs."""

import pytest

from graphflow.api import FLOAT, INT, Context, DeclarationError, Input, Output, node
from graphflow.graph import WorkflowInvalid, plan, validate
from graphflow.plugins import build_plugins
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.workflow import parse_workflow

SETTINGS = Settings()


@pytest.fixture(scope="module")
def builtins() -> Registry:
    """The built-in nodes' registry, built once for these tests."""
    return build_plugins(entry_points=False).registry


def workflow(nodes):
    return parse_workflow({"format": "graphflow.workflow", "version": 1, "nodes": nodes})


def limit_issues(nodes, registry, settings=SETTINGS):
    return [
        (i.node_id, i.input, i.message) for i in validate(workflow(nodes), registry, settings) if i.kind == "over_limit"
    ]


def latent(width, height, batch_size=1):
    return {"type": "graphflow.latent.empty", "inputs": {"width": width, "height": height, "batch_size": batch_size}}


def test_the_limits_have_defaults_that_keep_normal_use_and_stop_the_issues_cases():
    assert (SETTINGS.max_image_pixels, SETTINGS.max_batch, SETTINGS.max_steps) == (8192 * 8192, 64, 10_000)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"max_batch": 0}, "setting max_batch must be a whole number >= 1, not 0"),
        ({"max_steps": 2.5}, "setting max_steps must be a whole number >= 1, not 2.5"),
        ({"max_steps": True}, "setting max_steps must be a whole number >= 1, not True"),
        ({"max_image_pixels": -1}, "setting max_image_pixels must be a whole number >= 0, not -1"),
    ],
)
def test_a_bad_limit_is_named(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        Settings(**changes)


def test_a_16384_square_empty_latent_is_refused_at_validation_naming_node_input_and_setting(builtins):
    issues = limit_issues({"latent": latent(16384, 16384)}, builtins)
    assert issues == [
        (
            "latent",
            "width",
            "16,384 x 16,384 = 268,435,456 pixels is over this server's limit of 67,108,864 "
            "(setting max_image_pixels, graphflow serve --max-pixels)",
        )
    ]
    with pytest.raises(WorkflowInvalid, match=r"node 'latent', input 'width': 16,384 x 16,384 .* \[over_limit\]"):
        plan(workflow({"latent": latent(16384, 16384)}), builtins, SETTINGS, targets=["latent"])


def test_sizes_and_batches_within_the_limits_are_valid(builtins):
    assert limit_issues({"latent": latent(8192, 8192, 64)}, builtins) == []


def test_a_batch_over_the_limit_names_the_batch_input(builtins):
    issues = limit_issues({"latent": latent(512, 512, 4096)}, builtins)
    assert issues == [
        (
            "latent",
            "batch_size",
            "a batch of 4,096 is over this server's limit of 64 (setting max_batch, graphflow serve --max-batch)",
        )
    ]


def test_a_server_owners_lower_limits_apply_to_steps_repeats_and_sizes(builtins):
    owner = SETTINGS.replace(max_steps=30, max_batch=4, max_image_pixels=256 * 256)
    nodes = {
        "latent": latent(512, 256),
        "repeat": {
            "type": "graphflow.latent.repeat_batch",
            "inputs": {"amount": 5},
            "links": {"latent": {"node": "latent", "output": "latent"}},
        },
        "mask": {"type": "graphflow.mask.solid", "inputs": {"width": 256, "height": 256}},
        "sampler": {"type": "graphflow.sampling.sample", "inputs": {"steps": 31}},
    }
    issues = {(node_id, input_): message for node_id, input_, message in limit_issues(nodes, builtins, owner)}
    assert set(issues) == {("latent", "width"), ("repeat", "amount"), ("sampler", "steps")}
    assert issues["sampler", "steps"].startswith("31 steps is over this server's limit of 30 (setting max_steps")


def test_a_default_counts_against_the_limits_too(builtins):
    issues = limit_issues(
        {"latent": {"type": "graphflow.latent.empty"}},
        builtins,
        SETTINGS.replace(max_image_pixels=100),
    )
    assert [(node_id, input_) for node_id, input_, _ in issues] == [("latent", "width")]


def test_a_size_that_is_linked_or_kept_from_the_picture_is_not_known_before_the_run(builtins):
    small = SETTINGS.replace(max_image_pixels=64 * 64)
    nodes = {
        "image": {"type": "graphflow.image.empty", "inputs": {"width": 64, "height": 64}},
        "keep_aspect": {
            "type": "graphflow.image.scale_to",
            "inputs": {"width": 4096, "height": 0},
            "links": {"image": {"node": "image", "output": "image"}},
        },
    }
    assert limit_issues(nodes, builtins, small) == []


def test_a_budget_belongs_on_a_whole_number_input():
    with pytest.raises(DeclarationError, match="input 'size': budget must be one of width, height, batch, steps"):

        @node("acme.blur", version="1.0.0")
        class Blur:
            size = Input(FLOAT, default=1.0, budget="batch")
            result = Output(FLOAT)

            def run(self, ctx: Context, size: float) -> float:
                return size


def test_a_width_budget_needs_its_height():
    with pytest.raises(DeclarationError, match=r"node 'acme\.canvas'.*budgets 'width' and 'height' go together"):

        @node("acme.canvas", version="1.0.0")
        class Canvas:
            width = Input(INT, default=8, budget="width")
            result = Output(INT)

            def run(self, ctx: Context, width: int) -> int:
                return width
