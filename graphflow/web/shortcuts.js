// Keyboard shortcuts: one registry that every concern adds to (the `?` panel lists it), plus copy/paste of nodes.

import { registerSetting, settings } from "./preferences.js";

/** Every shortcut: { keys, label, run, typing, group }; `keys` reads like "Ctrl+Shift+Z" ("Ctrl" is Cmd on a
 * Mac). */
export const shortcuts = [];

/** Add a shortcut; `typing: true` lets it fire while a text field has the focus; `run` returning false leaves the
 * key to the browser (e.g. Ctrl+V with nothing copied, so the page still gets its paste event); `group` heads its
 * section in the `?` panel. */
export function addShortcut(keys, label, run, { typing = false, group = "More" } = {}) {
  shortcuts.push({ keys, label, run, typing, group, matches: keyMatcher(keys), characterKey: isCharacterKey(keys) });
}

// WCAG 2.1.4: shortcuts made of one printable key must be possible to turn off (speech input types them)
registerSetting({
  key: "shortcuts.characterKeys",
  label: "Single-key shortcuts (F, ?)",
  help: "Turn off if you use speech input or type with switches: the keys then only type.",
  type: "boolean",
  default: true,
  group: "Keyboard",
});

function keyMatcher(keys) {
  const parts = keys.split("+");
  const key = parts.pop().toLowerCase();
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  // a symbol such as "?" says by itself whether Shift was needed, which differs between keyboard layouts
  const symbol = key.length === 1 && key.toLowerCase() === key.toUpperCase() && !/[0-9]/.test(key);
  return (e) =>
    e.key.toLowerCase() === key &&
    (e.ctrlKey || e.metaKey) === mods.has("ctrl") &&
    (symbol || e.shiftKey === mods.has("shift")) &&
    e.altKey === mods.has("alt");
}

function isCharacterKey(keys) {
  const parts = keys.split("+");
  return parts.every((p) => p.length === 1 || p.toLowerCase() === "shift");
}

/** Bind the editor's keys on `window`; `app` provides the actions. */
export function bindShortcuts(app) {
  let clipboard = null;
  const workflow = { group: "Workflow", typing: true };
  addShortcut("Ctrl+Enter", "Queue the workflow", () => app.queue(), workflow);
  addShortcut("Ctrl+S", "Download the workflow", () => app.save(), workflow);
  addShortcut("Ctrl+O", "Open a workflow file", () => app.openFile(), workflow);
  const edit = { group: "Editing" };
  addShortcut("Ctrl+Z", "Undo", () => app.undo(), edit);
  addShortcut("Ctrl+Shift+Z", "Redo", () => app.redo(), edit);
  addShortcut("Ctrl+Y", "Redo", () => app.redo(), edit);
  addShortcut("Ctrl+A", "Select every node", () => app.canvas.select([...app.graph.nodes.keys()]), edit);
  addShortcut("Ctrl+C", "Copy the selected nodes", () => {
    if (!app.canvas.selection.size) return false;
    clipboard = copySelection(app);
  }, edit);
  addShortcut("Ctrl+X", "Cut the selected nodes", () => {
    clipboard = copySelection(app) ?? clipboard;
    app.deleteSelection();
  }, edit);
  addShortcut("Ctrl+V", "Paste nodes", () => (clipboard ? paste(app, clipboard) : false), edit);
  addShortcut("Delete", "Delete the selected nodes", () => app.deleteSelection(), edit);
  addShortcut("Backspace", "Delete the selected nodes", () => app.deleteSelection(), edit);
  addShortcut("Escape", "Clear the selection", () => app.canvas.select([]), edit);
  addShortcut("F", "Show every node", () => app.canvas.fit(), { group: "View" });
  window.addEventListener("keydown", (e) => {
    // a focused control that handled the key (tabs, menus) or an open modal dialog keeps it
    if (e.defaultPrevented || document.querySelector("dialog:modal")) return;
    const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
    const characters = settings.get("shortcuts.characterKeys");
    const hit = shortcuts.find((s) => s.matches(e) && (s.typing || !typing) && (characters || !s.characterKey));
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
