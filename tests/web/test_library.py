"""The node library sidebar, align/distribute of a selection, and the defaults that make a first picture."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.editor import centre
from tests.web.test_txt2img import build_txt2img

DEMO_MODEL = "builtin:shapes-demo"


def positions(editor) -> dict[str, list[int]]:
    return editor.page.evaluate("Object.fromEntries([...graphflow.graph.nodes].map(([id, n]) => [id, n.pos]))")


def test_library_adds_a_node_by_click_and_by_drag(editor, page):
    page.get_by_test_id("btn-library").click()
    expect(page.get_by_test_id("library")).to_be_visible()
    group = page.get_by_test_id("library-group-primitive")
    group.locator("summary").click()
    group.get_by_test_id("library-item-graphflow.primitive.int").click()
    page.wait_for_function("graphflow.graph.nodes.size === 1")
    assert editor.node_type(editor.node_ids()[0]) == "graphflow.primitive.int"

    page.get_by_test_id("library-search").fill("cliptextencode")
    item = page.get_by_test_id("library-item-graphflow.conditioning.encode")
    expect(page.locator("[data-testid=library-list] .library-item").first).to_have_attribute(
        "data-type", "graphflow.conditioning.encode"
    )
    box = editor.canvas_box()
    drop = (box["x"] + 600, box["y"] + 400)
    editor.drag(centre(item), drop)
    page.wait_for_function("graphflow.graph.nodes.size === 2")
    (added,) = set(editor.node_ids()) - {editor.node_ids()[0]}
    assert editor.node_type(added) == "graphflow.conditioning.encode"
    world = page.evaluate("([x, y]) => graphflow.canvas.toWorld(x, y)", list(drop))
    assert [round(v) for v in world] == positions(editor)[added]

    page.keyboard.press("Control+z")
    page.wait_for_function("graphflow.graph.nodes.size === 1")
    page.get_by_test_id("btn-library").click()
    expect(page.get_by_test_id("library")).to_be_hidden()


def test_align_left_lines_up_three_nodes_and_undo_restores_them(editor, page):
    ids = [editor.add_node("integer", x, y) for x, y in ((60, 40), (260, 220), (150, 420))]
    before = positions(editor)
    page.keyboard.press("Control+a")
    page.get_by_test_id("arrange-left").click()
    after = positions(editor)
    assert {after[i][0] for i in ids} == {min(before[i][0] for i in ids)}
    assert [after[i][1] for i in ids] == [before[i][1] for i in ids]

    page.keyboard.press("Control+z")
    assert positions(editor) == before


def test_distribute_vertically_leaves_equal_gaps_and_alt_arrow_aligns_tops(editor, page):
    ids = [editor.add_node("integer", x, y) for x, y in ((60, 40), (380, 160), (700, 500))]
    first_top = positions(editor)[ids[0]][1]
    page.keyboard.press("Control+a")
    expect(page.get_by_test_id("selection-bar")).to_be_visible()
    page.get_by_test_id("arrange-distribute-y").click()
    tops = [positions(editor)[i][1] for i in ids]
    heights = [editor.node(i).bounding_box()["height"] for i in ids]
    gaps = [tops[1] - tops[0] - heights[0], tops[2] - tops[1] - heights[1]]
    assert tops[0] == first_top and abs(gaps[0] - gaps[1]) <= 1

    page.keyboard.press("Alt+ArrowUp")
    assert {positions(editor)[i][1] for i in ids} == {first_top}
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("selection-bar")).to_be_hidden()


def test_a_new_load_checkpoint_has_the_text_to_image_demo_model_selected(editor):
    loader = editor.add_node("load checkpoint", 60, 60, pick="graphflow.loaders.checkpoint")
    expect(editor.widget(loader, "checkpoint")).to_have_value(DEMO_MODEL)
    assert editor.workflow()["nodes"][loader]["inputs"]["checkpoint"] == DEMO_MODEL


def test_empty_latent_takes_the_demo_models_size_and_a_txt2img_built_from_scratch_makes_a_picture(editor, page):
    ids = build_txt2img(editor)
    latent = ids["latent"]
    expect(editor.widget(latent, "width")).to_have_value("64")
    expect(editor.widget(latent, "height")).to_have_value("64")
    editor.set_text(ids["positive"], "text", "a red circle")
    page.get_by_test_id("btn-queue").click()

    image = page.get_by_test_id(f"image-{ids['save']}")
    expect(image).to_be_visible(timeout=120000)
    assert editor.image_size(image.get_attribute("src")) == [64, 64]


def test_an_empty_latent_the_user_sized_keeps_its_size_when_a_checkpoint_arrives(editor):
    latent = editor.add_node("empty latent", 60, 300, pick="graphflow.latent.empty")
    expect(editor.widget(latent, "width")).to_have_value("512")
    editor.set_number(latent, "width", 256)
    editor.add_node("load checkpoint", 60, 60, pick="graphflow.loaders.checkpoint")
    assert editor.workflow()["nodes"][latent]["inputs"]["width"] == 256
    expect(editor.widget(latent, "height")).to_have_value("512")
