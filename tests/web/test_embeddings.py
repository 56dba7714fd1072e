"""Typing `embedding:` in a prompt offers the embeddings of the models folder and the shipped ones."""

import json
import urllib.request
from pathlib import Path

import pytest
import torch
from playwright.sync_api import expect
from safetensors.torch import save_file

from graphflow.models import builtin

ENCODE = "graphflow.conditioning.encode"


def put(folder: Path, name: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": torch.zeros(1, 8)}, str(path))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    put(root / "embeddings", "shiny.safetensors")
    put(root / "embeddings", "styles/ink.safetensors")
    return root


@pytest.fixture(autouse=True)
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One shipped embedding, shapes-sun (the server runs in this process, so it sees the same module)."""
    put(tmp_path / "weights" / "embeddings", "shapes-sun.safetensors")
    monkeypatch.setattr(builtin, "_WEIGHTS", tmp_path / "weights")


def suggestions(page):
    return page.get_by_test_id("embedding-suggestions").locator("li")


def test_the_embedding_listing_puts_the_shipped_ones_first(server):
    with urllib.request.urlopen(f"{server.url}api/models/embeddings") as response:
        listing = json.load(response)
    files = ["builtin:shapes-sun", "shiny.safetensors", "styles/ink.safetensors"]
    assert listing == {"kind": "embeddings", "files": files}


def test_typing_embedding_colon_offers_the_names_and_enter_inserts_one(editor, page, screenshot):
    node = editor.add_node("encode prompt", 200, 100, pick=ENCODE)
    field = editor.widget(node, "text")
    field.click()
    field.press_sequentially("a red embedding:")
    expect(suggestions(page)).to_have_text(["shapes-sun", "shiny", "styles/ink"])
    screenshot("embedding-suggestions")
    field.press_sequentially("shi")
    expect(suggestions(page)).to_have_text(["shiny"])
    field.press("Enter")
    expect(field).to_have_value("a red embedding:shiny")
    expect(page.get_by_test_id("embedding-suggestions")).to_have_count(0)
    assert editor.workflow()["nodes"][node]["inputs"]["text"] == "a red embedding:shiny"


def test_arrow_keys_pick_a_suggestion_and_a_click_inserts_too(editor, page):
    node = editor.add_node("encode prompt", 200, 100, pick=ENCODE)
    field = editor.widget(node, "text")
    field.click()
    field.press_sequentially("(embedding:s")
    expect(suggestions(page)).to_have_count(3)
    field.press("ArrowDown")
    expect(suggestions(page).nth(1)).to_have_class("active")
    field.press("Tab")
    field.press_sequentially(":1.2), embedding:ink")
    expect(suggestions(page)).to_have_text(["styles/ink"])
    suggestions(page).first.click()
    expect(field).to_have_value("(embedding:shiny:1.2), embedding:styles/ink")
    expect(field).to_be_focused()
    assert editor.workflow()["nodes"][node]["inputs"]["text"] == "(embedding:shiny:1.2), embedding:styles/ink"


def test_escape_closes_the_list_and_other_words_open_none(editor, page):
    node = editor.add_node("encode prompt", 200, 100, pick=ENCODE)
    field = editor.widget(node, "text")
    field.click()
    field.press_sequentially("embedding:")
    expect(suggestions(page)).to_have_count(3)
    field.press("Escape")
    expect(page.get_by_test_id("embedding-suggestions")).to_have_count(0)
    field.press_sequentially(" a myembedding:x")
    page.wait_for_timeout(200)
    expect(page.get_by_test_id("embedding-suggestions")).to_have_count(0)
