// Keyboard shortcuts, plus copy/paste of selected nodes.

/** Bind the editor's keys on `window`; `app` provides the actions. */
export function bindShortcuts(app) {
  let clipboard = null;
  window.addEventListener("keydown", (e) => {
    const mod = e.ctrlKey || e.metaKey;
    const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
    if (mod && e.key === "Enter") {
      e.preventDefault();
      return app.queue();
    }
    if (mod && e.key.toLowerCase() === "s") {
      e.preventDefault();
      return app.save();
    }
    if (mod && e.key.toLowerCase() === "o") {
      e.preventDefault();
      return app.openFile();
    }
    if (typing) return;
    const key = e.key.toLowerCase();
    if (mod && key === "z") {
      e.preventDefault();
      return e.shiftKey ? app.redo() : app.undo();
    }
    if (mod && key === "y") {
      e.preventDefault();
      return app.redo();
    }
    if (mod && key === "a") {
      e.preventDefault();
      return app.canvas.select([...app.graph.nodes.keys()]);
    }
    if (mod && key === "c") {
      clipboard = copySelection(app);
      return;
    }
    if (mod && key === "x") {
      clipboard = copySelection(app);
      return app.deleteSelection();
    }
    if (mod && key === "v" && clipboard) {
      e.preventDefault();
      return paste(app, clipboard);
    }
    if (key === "delete" || key === "backspace") {
      e.preventDefault();
      return app.deleteSelection();
    }
    if (key === "f") return app.canvas.fit();
    if (key === "escape") return app.canvas.select([]);
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
}
