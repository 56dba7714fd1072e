"""A missing embedding fails validation naming it; the encode nodes read embeddings through the model cache."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graphflow.cli import main
from graphflow.declaration import spec_of
from graphflow.graph import validate
from graphflow.nodes.conditioning import EncodePrompt, EncodePromptSdxl
from graphflow.plugins import build_plugins
from graphflow.resources import example_workflow
from graphflow.text import TextEncoder
from graphflow.text.embeddings import EmbeddingError
from graphflow.workflow import parse_workflow
from tests.running import context_for, executor_for, settings_under


@pytest.fixture(scope="module")
def plugins():
    built = build_plugins(None, entry_points=False)
    assert not built.registry.problems, built.registry.problems
    return built


@pytest.fixture(scope="module")
def registry(plugins):
    return plugins.registry


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "embeddings"
    folder.mkdir(parents=True)
    save_file({"emb_params": torch.ones(2, 32)}, str(folder / "shiny.safetensors"))
    return tmp_path / "models"


def txt2img(prompt: str, negative: str = "") -> dict:
    data = json.loads(example_workflow("txt2img").read_text())
    data["nodes"]["prompt"]["inputs"]["text"] = prompt
    data["nodes"]["negative"]["inputs"]["text"] = negative
    return data


def test_a_missing_embedding_is_a_validation_issue_naming_it_node_and_input(registry, models, tmp_path):
    settings = settings_under(tmp_path)
    workflow = parse_workflow(txt2img("a (embedding:nope:1.2) circle, embedding:shiny", negative="embedding:ugly"))
    issues = validate(workflow, registry, settings)
    assert [(i.node_id, i.input, i.kind) for i in issues] == [
        ("prompt", "text", "invalid_value"),
        ("negative", "text", "invalid_value"),
    ]
    assert issues[0].message.startswith("embedding:nope: no such embedding in ")
    assert issues[0].message.endswith("available: shiny, shapes-sun")  # the folder's, then the shipped ones
    assert issues[1].message.startswith("embedding:ugly: no such embedding")


def test_a_prompt_whose_embeddings_exist_validates(registry, models, tmp_path):
    workflow = parse_workflow(txt2img("a circle, embedding:shiny", negative="(embedding:shiny.safetensors:0.5)"))
    assert validate(workflow, registry, settings_under(tmp_path)) == []


def test_graphflow_validate_shows_the_missing_embedding(models, tmp_path, capsys):
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(txt2img("a embedding:nope circle")))
    assert main(["validate", str(path), "--models", str(models)]) == 2
    err = capsys.readouterr().err
    assert "node 'prompt', input 'text': embedding:nope: no such embedding in" in err
    assert "available: shiny, shapes-sun [invalid_value]" in err


def test_the_encode_node_reads_an_embedding_once_through_the_model_cache(sd1_part, models, tmp_path):
    ctx = context_for(tmp_path)
    clip = TextEncoder([sd1_part], "sd1")
    (first,) = EncodePrompt().run(ctx, clip, "a embedding:shiny cat")
    (again,) = EncodePrompt().run(ctx, clip, "(embedding:shiny) cat")
    assert (ctx.models.misses, ctx.models.hits) == (1, 1)
    (plain,) = EncodePrompt().run(ctx, clip, "a cat")
    assert first.context.shape == again.context.shape == plain.context.shape
    assert not torch.equal(first.context, plain.context)


def test_the_sdxl_encode_node_names_the_file_and_the_part_of_a_wrong_width(sdxl_parts, models, tmp_path):
    clip = TextEncoder(list(sdxl_parts), "sdxl")
    with pytest.raises(EmbeddingError, match=r"shiny\.safetensors has vectors of width 32, but the text part clip_g"):
        EncodePromptSdxl().run(context_for(tmp_path), clip, "embedding:shiny", 1024, 1024, 0, 0, 1024, 1024)


def test_an_edited_embedding_file_changes_the_encode_nodes_cache_key(models, tmp_path):
    settings = settings_under(tmp_path)
    fingerprint = spec_of(EncodePrompt).fingerprint
    assert fingerprint is not None
    assert fingerprint(settings, {"text": "a cat"}) is None
    before = fingerprint(settings, {"text": "a embedding:shiny cat"})
    save_file({"emb_params": torch.ones(3, 32)}, str(models / "embeddings" / "shiny.safetensors"))
    assert fingerprint(settings, {"text": "a embedding:shiny cat"}) != before
    assert fingerprint(settings, {"text": "embedding:ghost"}) == (None,)


def test_the_demo_model_encodes_a_prompt_with_an_embedding_and_names_a_misfit_file(plugins, models, tmp_path):
    save_file({"emb_params": torch.randn(2, 128)}, str(models / "embeddings" / "sun.safetensors"))
    executor = executor_for(plugins, tmp_path)
    workflow = parse_workflow(txt2img("a embedding:sun at the top", negative="a embedding:shiny"))
    result = executor.run(workflow, targets=["prompt", "negative"])
    assert result.status == "error" and result.error.node_id == "negative"
    assert "shiny.safetensors has vectors of width 32, but the text part clip_l takes width 128" in str(result.error)
    (entry,) = executor.run(workflow, targets=["prompt"]).outputs["prompt"]["conditioning"]
    (plain,) = executor.run(parse_workflow(txt2img("a circle at the top")), targets=["prompt"]).outputs["prompt"][
        "conditioning"
    ]
    assert entry.context.shape == plain.context.shape == (1, 77, 128)
    assert not torch.equal(entry.context, plain.context)
