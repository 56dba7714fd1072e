"""The ControlNet nodes in workflows: choices, loading by name, diff loading, T2I-Adapters, errors naming the file."""

from __future__ import annotations

import shutil

import pytest
import torch

from graphflow.api import CONTROL_NET
from graphflow.control.model import ControlModel
from graphflow.graph import WorkflowInvalid
from graphflow.models.builtin import builtin_models, model_choices, resolve_choice
from graphflow.models.paths import ModelNotFoundError, UnsafeModelPathError
from tests.control.conftest import decoded, link, run_nodes, txt2img_nodes, with_controls

CONTROLNETS = [
    "bare_tiny_sd15.safetensors",
    "control_tiny_sd15.safetensors",
    "diff_control_tiny_sd15.safetensors",
    "diffusers_tiny_sd15.safetensors",
    "t2iadapter_tiny_sd14v1.safetensors",
    "tiny-cn",
    "tiny-cn-2",
    "tiny-t2i",
]


def _plain() -> dict:
    return txt2img_nodes("a circle", "", steps=4, cfg=4.0, seed=3)


def test_the_loader_offers_the_shipped_controlnets_then_the_files_and_diffusers_folders_of_the_folder(tiny):
    assert model_choices(tiny["root"], "controlnet") == [*builtin_models("controlnet"), *CONTROLNETS]
    assert resolve_choice(tiny["root"], "controlnet", "tiny-cn") == tiny["root"] / "controlnet" / "tiny-cn"


def test_names_leaving_the_controlnet_folder_or_not_in_it_are_refused_with_the_choices(tiny):
    with pytest.raises(UnsafeModelPathError):
        resolve_choice(tiny["root"], "controlnet", "../checkpoints/tiny-sd1")
    with pytest.raises(ModelNotFoundError, match=r"'canny.safetensors' not found .*available: .*bare_tiny"):
        resolve_choice(tiny["root"], "controlnet", "canny.safetensors")


def test_an_unknown_controlnet_name_fails_validation_naming_node_and_input(executor):
    nodes = with_controls(_plain(), {"name": "control_v11p_sd15_canny.safetensors"})
    with pytest.raises(WorkflowInvalid) as caught:
        run_nodes(executor, nodes, "decode")
    (issue,) = caught.value.issues
    assert (issue.node_id, issue.input, issue.kind) == ("control_loader_0", "control_net_name", "not_in_choices")
    assert "controlnet" in issue.message


def test_the_loader_node_gives_a_control_net_value_that_the_type_accepts(executor):
    nodes = {"loader": {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": "tiny-t2i"}}}
    control = run_nodes(executor, nodes, "loader").outputs["loader"]["control_net"]
    assert isinstance(control, ControlModel) and control.kind == "t2i_adapter"
    assert CONTROL_NET.accepts_value(control) and not CONTROL_NET.accepts_value(torch.zeros(1))


def test_a_replaced_controlnet_file_is_loaded_again(executor, tiny, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny["root"], models)
    executor = type(executor)(executor.registry, executor.hooks, executor.settings.replace(models_dir=models))
    nodes = {"loader": {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": "tiny-x.safetensors"}}}
    folder = models / "controlnet"
    shutil.copy(folder / "control_tiny_sd15.safetensors", folder / "tiny-x.safetensors")
    first = run_nodes(executor, nodes, "loader").outputs["loader"]["control_net"]
    shutil.copy(folder / "t2iadapter_tiny_sd14v1.safetensors", folder / "tiny-x.safetensors")
    second = run_nodes(executor, nodes, "loader").outputs["loader"]["control_net"]
    assert (first.kind, second.kind) == ("controlnet", "t2i_adapter")


def test_a_diff_controlnet_loaded_onto_the_model_gives_the_full_controlnets_picture(executor):
    full = decoded(executor, with_controls(_plain(), {"name": "tiny-cn"}))
    nodes = with_controls(_plain(), {"name": "diff_control_tiny_sd15.safetensors"})
    nodes["control_loader_0"] = {
        "type": "graphflow.loaders.diff_controlnet",
        "inputs": {"control_net_name": "diff_control_tiny_sd15.safetensors"},
        "links": {"model": link("checkpoint", "model")},
    }
    assert torch.allclose(decoded(executor, nodes), full, atol=1e-5)


def test_a_diff_controlnet_in_the_plain_loader_fails_naming_the_file_and_the_node_to_use(executor):
    nodes = with_controls(_plain(), {"name": "diff_control_tiny_sd15.safetensors"})
    with pytest.raises(Exception, match=r"diff_control_tiny_sd15.safetensors is a diff ControlNet.*Load ControlNet"):
        run_nodes(executor, nodes, "decode")


@pytest.mark.parametrize("name", ["tiny-t2i", "t2iadapter_tiny_sd14v1.safetensors"])
def test_a_t2i_adapter_steers_the_picture_through_the_same_apply_node(executor, name):
    plain = decoded(executor, _plain())
    steered = decoded(executor, with_controls(_plain(), {"name": name}))
    assert (steered - plain).abs().mean() > 1e-3


def test_a_controlnet_and_a_t2i_adapter_chain(executor):
    plain = decoded(executor, _plain())
    first = decoded(executor, with_controls(_plain(), {"name": "tiny-cn"}))
    both = decoded(executor, with_controls(_plain(), {"name": "tiny-cn"}, {"name": "tiny-t2i"}))
    assert (both - first).abs().mean() > 1e-3 and (first - plain).abs().mean() > 1e-3


@pytest.mark.parametrize("name", sorted(builtin_models("controlnet")) or [pytest.param("none", marks=pytest.mark.skip)])
def test_every_shipped_controlnet_loads_by_its_builtin_name(executor, name):
    nodes = {"loader": {"type": "graphflow.loaders.controlnet", "inputs": {"control_net_name": name}}}
    control = run_nodes(executor, nodes, "loader").outputs["loader"]["control_net"]
    assert control.kind in ("controlnet", "t2i_adapter") and control.source == name.removeprefix("builtin:")
