// Mask and sketch painter: paint a mask over an image or draw a sketch, save it to the input folder.

import { button, div } from "./dom.js";
import { imageInputOf, installImageInput, setPicture } from "./imageinput.js";
import { PAINTER_KEYS, Painter } from "./painterdialog.js";
import { addShortcut } from "./shortcuts.js";
import { inputRef } from "./widgets.js";

/** Wire this concern into the editor; `app` provides the editor's services. Adds `app.openPainter(ref, options)`. */
export function installPainter(app) {
  const painter = new Painter(app);
  /** Open picture `ref` ({filename, subfolder, type}) in the painter, or a blank sketch for null; options:
   * `mode` "mask" (default with a picture) or "sketch", `onSave(name)` given the saved input file's name (without
   * it, a new Load Image node gets the saved file). */
  app.openPainter = (ref, options = {}) => painter.open(ref, options);
  installImageInput(app);
  offerOnOutputPictures(app);
  const group = { group: "Painter" };
  addShortcut("Alt+M", "Paint a mask on the selected Load Image node's picture", () => paintSelected(app, "mask"), group);
  addShortcut("Alt+K", "Sketch over the selected Load Image node's picture (or on a blank canvas)", () => paintSelected(app, "sketch"), group);
  // While the painter is open it owns the keyboard: the graph's shortcuts must not act behind it.
  window.addEventListener("keydown", (e) => {
    if (!painter.isOpen) return;
    e.stopPropagation();
    if (e.target.closest?.("input[type=number]")) return;
    const act = PAINTER_KEYS[`${e.ctrlKey || e.metaKey ? "ctrl+" : ""}${e.key.toLowerCase()}`];
    if (act) {
      e.preventDefault();
      act(painter);
    }
  }, true);
}

/** Open the painter on the picture of the selected node with an image widget; saving sets that widget. */
function paintSelected(app, mode) {
  const nodeId = [...app.canvas.selection].find((id) => imageInputOf(app, id));
  const input = nodeId && imageInputOf(app, nodeId);
  const name = input && app.graph.nodes.get(nodeId).values[input];
  if (!name && mode === "mask") return app.toast("Select a Load Image node with a picture to paint a mask on");
  const ref = name ? inputRef(name) : null;
  const onSave = nodeId ? (saved) => setPicture(app, nodeId, input, saved) : null;
  app.openPainter(ref, { mode, onSave });
}

/** A right-click on a picture a node shows offers to paint a mask on it or sketch over it. */
function offerOnOutputPictures(app) {
  const nodes = document.getElementById("nodes");
  nodes.addEventListener("contextmenu", (e) => {
    const picture = e.target.closest(".node-image");
    if (!picture) return;
    e.preventDefault();
    e.stopPropagation();
    const params = new URL(picture.src, location.href).searchParams;
    const ref = { filename: params.get("filename"), subfolder: params.get("subfolder") ?? "", type: params.get("type") ?? "output" };
    const menu = div("painter-menu");
    menu.setAttribute("role", "menu");
    menu.setAttribute("data-testid", "picture-menu");
    menu.style.left = `${e.clientX}px`;
    menu.style.top = `${e.clientY}px`;
    const item = (text, mode) => {
      const b = button("", text, text, `picture-${mode}`);
      b.setAttribute("role", "menuitem");
      b.addEventListener("click", () => {
        menu.remove();
        app.openPainter(ref, { mode });
      });
      return b;
    };
    menu.append(item("Paint a mask on this picture", "mask"), item("Sketch over this picture", "sketch"));
    document.body.append(menu);
    menu.querySelector("button").focus();
    const away = (ev) => {
      if (menu.contains(ev.target)) return;
      menu.remove();
      window.removeEventListener("pointerdown", away, true);
    };
    window.addEventListener("pointerdown", away, true);
  });
}
