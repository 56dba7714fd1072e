// Organising tools: groups, notes, reroutes, bypass/mute, collapse, rename and resize.

import { addContextItems, bindContextMenu } from "./contextmenu.js";
import { attachGroups, drawGroups, groupSelection } from "./groups.js";
import { editTitle } from "./nodeview.js";
import { attachNotes, drawNotes } from "./notes.js";
import { attachReroutes, drawReroutes, rerouteAt } from "./reroutes.js";
import { addShortcut } from "./shortcuts.js";

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installOrganise(app) {
  const { canvas, graph } = app;
  const world = canvas.world;
  const [groups, notes, reroutes] = ["groups-layer", "notes-layer", "reroutes-layer"].map(layer);
  world.prepend(groups);
  world.append(reroutes, notes);
  attachGroups(groups, canvas, app);
  attachNotes(notes, canvas, app);
  attachReroutes(reroutes, canvas, app);
  const draw = () => {
    drawGroups(groups, graph);
    drawNotes(notes, graph);
    drawReroutes(reroutes, graph);
  };
  graph.addEventListener("change", (e) => e.detail.kind !== "value" && draw());
  draw();

  const selected = () => [...canvas.selection];
  const group = { group: "Organise" };
  addShortcut("Ctrl+G", "Group the selected nodes", () => groupSelection(canvas, app), group);
  addShortcut("Ctrl+B", "Bypass the selected nodes (or run them again)", () => toggleMode(app, selected(), "bypass"), group);
  addShortcut("Ctrl+M", "Mute the selected nodes (or unmute them)", () => toggleMode(app, selected(), "mute"), group);
  addShortcut("Alt+C", "Collapse the selected nodes (or expand them)", () => toggleCollapsed(app, selected()), group);

  bindContextMenu(canvas.root);
  addContextItems((target, x, y) => {
    const nodeEl = target.closest(".node");
    if (nodeEl) return nodeItems(app, nodeEl.dataset.nodeId);
    const hit = target.closest(".wire-hit");
    if (hit) return [{ label: "Add a reroute point here", testid: "reroute", run: () => rerouteAt(canvas, app, hit, x, y) }];
    if (target.closest(".organise")) return [];
    const items = [{ label: "Add a note here", testid: "add-note", run: () => app.edit(() => graph.addNote(canvas.toWorld(x, y))) }];
    if (canvas.selection.size) items.push({ label: "Group the selected nodes (Ctrl+G)", testid: "group", run: () => groupSelection(canvas, app) });
    return items;
  });
}

/** The right-click items for a node: they act on the selection when the node is part of it. */
function nodeItems(app, id) {
  const { canvas, graph } = app;
  if (!canvas.selection.has(id)) canvas.select([id]);
  const ids = [...canvas.selection];
  const node = graph.nodes.get(id);
  const all = (test) => ids.every((i) => test(graph.nodes.get(i)));
  return [
    { label: "Rename", testid: "rename", run: () => renameNode(app, id) },
    { label: all((n) => n.mode === "bypass") ? "Run again (remove bypass)" : "Bypass (Ctrl+B)", testid: "bypass", run: () => toggleMode(app, ids, "bypass") },
    { label: all((n) => n.mode === "mute") ? "Unmute" : "Mute (Ctrl+M)", testid: "mute", run: () => toggleMode(app, ids, "mute") },
    { label: node.collapsed ? "Expand (Alt+C)" : "Collapse (Alt+C)", testid: "collapse", run: () => toggleCollapsed(app, ids) },
    { label: "Delete", testid: "delete", run: () => app.deleteSelection() },
  ];
}

/** Give the nodes `mode`, or take it away when they all have it already; false when no node is given. */
function toggleMode(app, ids, mode) {
  if (!ids.length) return false;
  const all = ids.every((id) => app.graph.nodes.get(id).mode === mode);
  app.edit(() => app.graph.setMode(ids, all ? null : mode));
}

function toggleCollapsed(app, ids) {
  if (!ids.length) return false;
  const all = ids.every((id) => app.graph.nodes.get(id).collapsed);
  app.edit(() => app.graph.setCollapsed(ids, !all));
}

function renameNode(app, id) {
  const title = app.canvas.nodeEl(id).querySelector(".node-title");
  editTitle(title, id, (text) => app.edit(() => app.graph.setTitle(id, text)));
}

function layer(id) {
  const el = document.createElement("div");
  el.id = id;
  el.className = "organise";
  el.setAttribute("data-testid", id);
  return el;
}
