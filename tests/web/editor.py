"""A small driver for the editor page, so the tests read as user actions."""

from __future__ import annotations

from typing import Any


class Editor:
    """User actions on the graphflow editor through Playwright's mouse and keyboard."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def canvas_box(self) -> dict[str, float]:
        return self.page.get_by_test_id("canvas").bounding_box()

    def add_node(self, query: str, x: float, y: float, pick: str | None = None) -> str:
        """Double-click the canvas at (x, y) relative to it, search `query`, then click the item of type `pick`
        (or press Enter for the best match); returns the new node id."""
        box = self.canvas_box()
        self.page.mouse.dblclick(box["x"] + x, box["y"] + y)
        self.page.get_by_test_id("node-menu-search").fill(query)
        before = set(self.node_ids())
        if pick:
            self.page.get_by_test_id(f"node-menu-item-{pick}").click()
        else:
            self.page.keyboard.press("Enter")
        self.page.wait_for_function(f"graphflow.graph.nodes.size > {len(before)}")
        (new,) = set(self.node_ids()) - before
        return new

    def node_type(self, node_id: str) -> str:
        return self.page.evaluate("(id) => graphflow.graph.nodes.get(id).type", node_id)

    def node_ids(self) -> list[str]:
        return self.page.evaluate("[...graphflow.graph.nodes.keys()]")

    def node(self, node_id: str) -> Any:
        return self.page.get_by_test_id(f"node-{node_id}")

    def port(self, node_id: str, direction: str, name: str) -> Any:
        return self.page.get_by_test_id(f"port-{node_id}-{direction}-{name}")

    def drag(self, start: tuple[float, float], end: tuple[float, float], modifier: str | None = None) -> None:
        mouse = self.page.mouse
        if modifier:
            self.page.keyboard.down(modifier)
        mouse.move(*start)
        mouse.down()
        mouse.move(*end, steps=8)
        mouse.up()
        if modifier:
            self.page.keyboard.up(modifier)

    def wire(self, src: str, output: str, dst: str, input_: str) -> None:
        """Drag from an output port to an input port (or an input's widget dot)."""
        self.drag(centre(self.port(src, "out", output)), centre(self.port(dst, "in", input_)))

    def widget(self, node_id: str, input_: str) -> Any:
        return self.page.get_by_test_id(f"widget-{node_id}-{input_}")

    def set_number(self, node_id: str, input_: str, value: float) -> None:
        field = self.widget(node_id, input_)
        field.fill(str(value))
        field.press("Tab")

    def set_text(self, node_id: str, input_: str, text: str) -> None:
        field = self.widget(node_id, input_)
        field.fill(text)
        field.press("Tab")

    def watch_progress(self, node_id: str) -> None:
        """From now on, note each progress-bar width and each step-preview image the node shows."""
        self.page.evaluate(
            """(id) => {
                const seen = { widths: [], previews: [] };
                (window.progressSeen ??= {})[id] = seen;
                const look = () => {
                    const el = document.querySelector(`[data-testid="node-${id}"]`);
                    if (!el) return;
                    const width = parseFloat(el.querySelector(".node-progress-fill").style.width);
                    if (el.classList.contains("has-progress") && seen.widths.at(-1) !== width) seen.widths.push(width);
                    const preview = el.querySelector(`.node-media [data-testid="preview-${id}"]`);
                    if (preview && seen.previews.at(-1) !== preview.src) seen.previews.push(preview.src);
                };
                new MutationObserver(look).observe(document.getElementById("nodes"),
                    { subtree: true, childList: true, attributes: true, attributeFilter: ["class", "style", "src"] });
            }""",
            node_id,
        )

    def progress_seen(self, node_id: str) -> dict[str, list[Any]]:
        """What `watch_progress` noted: `widths` (percent, in order) and `previews` (image URLs, in order)."""
        return self.page.evaluate("(id) => window.progressSeen[id]", node_id)

    def image_size(self, url: str) -> list[int]:
        """[width, height] of the image at `url` as the page decodes it (blob: URLs included)."""
        return self.page.evaluate(
            "async (url) => { const b = await createImageBitmap(await (await fetch(url)).blob()); "
            "return [b.width, b.height]; }",
            url,
        )

    def links(self) -> dict[str, dict[str, Any]]:
        """The workflow's links as the editor would save them: node id -> input -> link."""
        workflow = self.workflow()
        return {nid: entry.get("links", {}) for nid, entry in workflow["nodes"].items()}

    def workflow(self) -> dict[str, Any]:
        return self.page.evaluate("graphflow.graph.toWorkflow()")

    def drop_file(self, name: str, data: bytes, mime: str) -> None:
        """Drop a file on the canvas the way a desktop drag-and-drop does."""
        self.page.evaluate(
            """([name, bytes, mime]) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
                const canvas = document.querySelector('[data-testid=canvas]');
                for (const type of ['dragover', 'drop']) {
                    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                    canvas.dispatchEvent(new DragEvent(type, init));
                }
            }""",
            [name, list(data), mime],
        )


def centre(locator: Any) -> tuple[float, float]:
    """The centre of an element on the screen."""
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
