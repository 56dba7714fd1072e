// Pictures into the graph: a picture dropped on a node with an image widget, or pasted while one is selected, is
// uploaded into that widget; a picture that carries no workflow dropped on the bare canvas becomes a Load Image node.

import { isPicture, takePictures } from "./files.js";

const LOAD_IMAGE = "graphflow.image.load";

/** Wire drops and pastes of pictures into `app`'s graph. */
export function installImageInput(app) {
  takePictures({
    onNode(file, nodeId) {
      const input = imageInputOf(app, nodeId);
      if (!input) return false;
      uploadInto(app, file, nodeId, input);
      return true;
    },
    async onCanvas(file, clientX, clientY) {
      const name = await app.uploadImage(file);
      if (name) addLoadImage(app, name, app.canvas.toWorld(clientX, clientY));
    },
  });
  document.addEventListener("paste", async (e) => {
    if (e.target.closest?.("input, textarea, [contenteditable]")) return;
    const file = [...(e.clipboardData?.files ?? [])].find(isPicture);
    if (!file) return;
    e.preventDefault();
    const target = [...app.canvas.selection].find((id) => imageInputOf(app, id));
    if (target) return uploadInto(app, file, target, imageInputOf(app, target));
    const name = await app.uploadImage(file);
    if (name) addLoadImage(app, name, app.pointerWorld());
  });
}

/** A new Load Image node at world position `pos` showing input file `name`, selected. */
export function addLoadImage(app, name, pos) {
  const node = app.edit(() => {
    const added = app.graph.addNode(LOAD_IMAGE, pos);
    app.graph.setValue(added.id, "image", name);
    return added;
  });
  app.canvas.render();
  app.canvas.select([node.id]);
  return node;
}

/** The name of the node's image-widget input (shown as a widget, not wired), or null. */
export function imageInputOf(app, nodeId) {
  const node = app.graph.nodes.get(nodeId);
  const schema = node && app.graph.schemaOf(node);
  return schema?.inputs.find((i) => i.widget === "image_upload" && !node.ports.has(i.name))?.name ?? null;
}

async function uploadInto(app, file, nodeId, input) {
  const name = await app.uploadImage(file);
  if (name && setPicture(app, nodeId, input, name)) app.toast(`${file.name || "The picture"} is now ${nodeId}'s ${input}`);
}

/** Set a node's image input to input file `name` (an undoable edit); false when the node is gone. */
export function setPicture(app, nodeId, input, name) {
  if (!app.graph.nodes.has(nodeId)) return false;
  app.edit(() => app.graph.setValue(nodeId, input, name));
  app.canvas.render(); // a value change redraws nothing by itself; the widget must show the new file
  return true;
}
