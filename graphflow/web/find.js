// Find in graph (Ctrl+F): search the graph's nodes by title, id and type; Enter or a click selects one and centres it.

import { rankBy } from "./fuzzy.js";
import { addShortcut } from "./shortcuts.js";

const SHOWN = 50;
const MIN_ZOOM = 0.8; // a node jumped to is shown at least this large

/** Register Ctrl+F, which opens the find box over the canvas. */
export function installFind(app) {
  addShortcut("Ctrl+F", "Find a node in the graph", () => openFind(app), { group: "View", typing: true });
}

// The title a node shows: its own, its type's, or its type id.
function nodeTitle(app, node) {
  return node.title || app.graph.schemaOf(node)?.title || node.type;
}

/** Select node `id` and pan (zooming in if it would be small) so that it sits in the middle of the canvas. */
export function centreOn(app, id) {
  const node = app.graph.nodes.get(id);
  const el = app.canvas.nodeEl(id);
  if (!node) return;
  const zoom = Math.max(app.canvas.view.zoom, MIN_ZOOM);
  const r = app.canvas.root.getBoundingClientRect();
  const [cx, cy] = [node.pos[0] + (el?.offsetWidth ?? 0) / 2, node.pos[1] + (el?.offsetHeight ?? 0) / 2];
  app.canvas.setView(r.width / 2 - cx * zoom, r.height / 2 - cy * zoom, zoom);
  app.canvas.select([id]);
}

function openFind(app) {
  const open = document.querySelector(".find-box");
  if (open) return open.querySelector("input").select();
  const box = document.createElement("div");
  box.className = "find-box";
  box.setAttribute("role", "search");
  box.setAttribute("data-testid", "find-box");
  const input = Object.assign(document.createElement("input"), { type: "search", placeholder: "Find a node…" });
  input.setAttribute("aria-label", "Find a node in the graph");
  input.setAttribute("data-testid", "find-search");
  const list = document.createElement("div");
  list.className = "find-results";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Matching nodes");
  box.append(input, list);
  const r = app.canvas.root.getBoundingClientRect();
  Object.assign(box.style, { left: `${r.left + r.width / 2}px`, top: `${r.top + 12}px` });
  document.body.append(box);

  let shown = [];
  let active = 0;
  const close = () => {
    app.canvas.root.focus(); // the focus leaving the box removes it (see focusout below)
    if (box.isConnected) box.remove();
  };
  const jump = (id) => {
    close();
    centreOn(app, id);
  };
  const draw = () => {
    shown = rankBy([...app.graph.nodes.values()], input.value, (n) => [nodeTitle(app, n), n.id, n.type]).slice(0, SHOWN);
    active = Math.min(active, Math.max(0, shown.length - 1));
    list.replaceChildren(...shown.map((node, i) => resultFor(app, node, i === active, jump)));
    if (!shown.length) list.append(Object.assign(document.createElement("p"), { className: "find-empty", textContent: "No node matches" }));
    list.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  };
  input.addEventListener("input", () => {
    active = 0;
    draw();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") active = Math.min(active + 1, shown.length - 1);
    else if (e.key === "ArrowUp") active = Math.max(active - 1, 0);
    else if (e.key === "Enter" && shown[active]) jump(shown[active].id);
    else if (e.key === "Escape") close();
    else return;
    e.preventDefault();
    if (box.isConnected) draw();
  });
  box.addEventListener("focusout", (e) => {
    if (!box.contains(e.relatedTarget) && box.isConnected) box.remove();
  });
  draw();
  input.focus();
}

function resultFor(app, node, active, jump) {
  const item = document.createElement("button");
  item.type = "button";
  item.className = `find-result${active ? " active" : ""}`;
  item.setAttribute("role", "option");
  item.setAttribute("aria-selected", String(active));
  item.setAttribute("data-testid", `find-result-${node.id}`);
  const title = Object.assign(document.createElement("span"), { textContent: nodeTitle(app, node) });
  const id = Object.assign(document.createElement("span"), { className: "find-id", textContent: `${node.id} · ${node.type}` });
  item.append(title, id);
  item.addEventListener("pointerdown", (e) => e.preventDefault()); // keep the focus in the search field
  item.addEventListener("click", () => jump(node.id));
  return item;
}
