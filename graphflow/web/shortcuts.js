// Keyboard shortcuts: one registry that every concern adds to (the `?` panel lists it), plus copy/paste of nodes.

/** Every shortcut: { keys, label, run, typing }; `keys` reads like "Ctrl+Shift+Z" ("Ctrl" is Cmd on a Mac). */
export const shortcuts = [];

/** Add a shortcut; `typing: true` lets it fire while a text field has the focus; `run` returning false leaves the
 * key to the browser (e.g. Ctrl+V with nothing copied, so the page still gets its paste event). */
export function addShortcut(keys, label, run, { typing = false } = {}) {
  shortcuts.push({ keys, label, run, typing, matches: keyMatcher(keys) });
}

function keyMatcher(keys) {
  const parts = keys.split("+");
  const key = parts.pop().toLowerCase();
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  return (e) =>
    e.key.toLowerCase() === key &&
    (e.ctrlKey || e.metaKey) === mods.has("ctrl") &&
    e.shiftKey === mods.has("shift") &&
    e.altKey === mods.has("alt");
}

/** Bind the editor's keys on `window`; `app` provides the actions. */
export function bindShortcuts(app) {
  let clipboard = null;
  addShortcut("Ctrl+Enter", "Queue the workflow", () => app.queue(), { typing: true });
  addShortcut("Ctrl+S", "Download the workflow", () => app.save(), { typing: true });
  addShortcut("Ctrl+O", "Open a workflow file", () => app.openFile(), { typing: true });
  addShortcut("Ctrl+Z", "Undo", () => app.undo());
  addShortcut("Ctrl+Shift+Z", "Redo", () => app.redo());
  addShortcut("Ctrl+Y", "Redo", () => app.redo());
  addShortcut("Ctrl+A", "Select every node", () => app.canvas.select([...app.graph.nodes.keys()]));
  addShortcut("Ctrl+C", "Copy the selected nodes", () => {
    if (!app.canvas.selection.size) return false;
    clipboard = copySelection(app);
  });
  addShortcut("Ctrl+X", "Cut the selected nodes", () => {
    clipboard = copySelection(app) ?? clipboard;
    app.deleteSelection();
  });
  addShortcut("Ctrl+V", "Paste nodes", () => (clipboard ? paste(app, clipboard) : false));
  addShortcut("Delete", "Delete the selected nodes", () => app.deleteSelection());
  addShortcut("Backspace", "Delete the selected nodes", () => app.deleteSelection());
  addShortcut("F", "Show every node", () => app.canvas.fit());
  addShortcut("Escape", "Clear the selection", () => app.canvas.select([]));
  window.addEventListener("keydown", (e) => {
    const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
    const hit = shortcuts.find((s) => s.matches(e) && (s.typing || !typing));
    if (hit && hit.run(e) !== false) e.preventDefault();
  });
}

function copySelection(app) {
  const ids = [...app.canvas.selection];
  if (!ids.length) return null;
  const data = app.graph.toWorkflow(ids);
  navigator.clipboard?.writeText(JSON.stringify(data)).catch(() => {});
  app.toast(`Copied ${ids.length} node${ids.length > 1 ? "s" : ""}`);
  return data;
}

function paste(app, data) {
  const positions = Object.values(data.ui.nodes).map((u) => u.pos);
  const left = Math.min(...positions.map((p) => p[0]));
  const top = Math.min(...positions.map((p) => p[1]));
  const [mx, my] = app.pointerWorld();
  let ids = [];
  app.edit(() => (ids = app.graph.insert(data, [mx - left, my - top])));
  app.canvas.select(ids);
  return true;
}
