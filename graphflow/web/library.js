// The node library sidebar: every node type by category, searchable; click or drag one onto the canvas to add it.
// installLibrary is this concern's entry point, so it also installs find-in-graph, align/distribute and defaults.

import { installArrange } from "./arrange.js";
import { installDefaults } from "./defaults.js";
import { installFind } from "./find.js";
import { rankSchemas } from "./fuzzy.js";
import { addShortcut } from "./shortcuts.js";

const DRAG_START = 4; // pixels the pointer moves before a press on an item becomes a drag
const SPOT = [250, 120]; // the room a node added by a click needs, in world pixels
const STEP = 30; // how far apart the spots tried for it are

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installLibrary(app) {
  const aside = document.querySelector("#library");
  const schemas = [...app.graph.catalogue.values()];
  const search = Object.assign(document.createElement("input"), { type: "search", placeholder: "Search nodes…" });
  search.setAttribute("aria-label", "Search the node library");
  search.setAttribute("data-testid", "library-search");
  const list = document.createElement("div");
  list.className = "library-list";
  list.setAttribute("data-testid", "library-list");
  const heading = Object.assign(document.createElement("h2"), { className: "library-title", textContent: "Nodes" });
  aside.replaceChildren(heading, search, list);

  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.id = "btn-library";
  toggle.textContent = "Library";
  toggle.title = "Show or hide the node library (N)";
  toggle.setAttribute("data-testid", "btn-library");
  toggle.setAttribute("aria-controls", "library");
  const add = document.querySelector("#btn-add");
  if (add) add.after(toggle);
  else document.querySelector("#toolbar").append(toggle);

  const show = (open) => {
    aside.hidden = !open;
    toggle.setAttribute("aria-pressed", String(open));
    if (open) search.focus();
  };
  show(false);
  toggle.addEventListener("click", () => show(aside.hidden));
  addShortcut("N", "Show or hide the node library", () => show(aside.hidden), { group: "View" });

  const draw = () => list.replaceChildren(...(search.value.trim() ? ranked(rankSchemas(schemas, search.value)) : grouped(schemas)));
  search.addEventListener("input", draw);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") list.querySelector(".library-item")?.click();
    else if (e.key === "Escape" && search.value) search.value = "";
    else return;
    e.preventDefault();
    draw();
  });
  draw();

  list.addEventListener("click", (e) => {
    const item = e.target.closest(".library-item");
    if (item) addAt(app, item.dataset.type, freeSpot(app));
  });
  list.addEventListener("pointerdown", (e) => {
    const item = e.target.closest(".library-item");
    if (item && e.button === 0) dragItem(app, item, e);
  });

  installFind(app);
  installArrange(app);
  installDefaults(app);
}

function grouped(schemas) {
  const groups = new Map();
  for (const s of schemas) groups.set(s.category, [...(groups.get(s.category) ?? []), s]);
  return [...groups].map(([category, members]) => {
    const details = document.createElement("details");
    details.className = "library-group";
    details.setAttribute("data-testid", `library-group-${category}`);
    const summary = document.createElement("summary");
    summary.textContent = `${category} (${members.length})`;
    details.append(summary, ...members.sort((a, b) => a.title.localeCompare(b.title)).map(itemFor));
    return details;
  });
}

function ranked(schemas) {
  if (!schemas.length) return [Object.assign(document.createElement("p"), { className: "library-empty", textContent: "No node matches" })];
  return schemas.map((s) => {
    const item = itemFor(s);
    item.append(Object.assign(document.createElement("span"), { className: "library-category", textContent: s.category }));
    return item;
  });
}

function itemFor(schema) {
  const item = document.createElement("button");
  item.type = "button";
  item.className = "library-item";
  item.dataset.type = schema.type;
  item.title = `${schema.description}\n\n${schema.type}`;
  item.setAttribute("data-testid", `library-item-${schema.type}`);
  item.append(Object.assign(document.createElement("span"), { className: "library-item-title", textContent: schema.title }));
  return item;
}

/** Add a node of `type` at world position `pos` as one undoable edit, and select it. */
function addAt(app, type, pos) {
  const node = app.edit(() => app.graph.addNode(type, pos));
  app.canvas.select([node.id]);
  return node;
}

/** A world point in the view where a new node overlaps none: down the left quarter, then the next column. */
function freeSpot(app) {
  const r = app.canvas.root.getBoundingClientRect();
  const [x0, y0] = app.canvas.toWorld(r.left + r.width / 4, r.top + 24);
  const [, bottom] = app.canvas.toWorld(r.left, r.bottom - SPOT[1]);
  const boxes = [...app.canvas.nodeLayer.children].map((el) => [el.offsetLeft, el.offsetTop, el.offsetWidth, el.offsetHeight]);
  const free = (x, y) => boxes.every(([bx, by, bw, bh]) => x + SPOT[0] <= bx || bx + bw <= x || y + SPOT[1] <= by || by + bh <= y);
  for (let column = 0; column < 4; column++) {
    const x = x0 + column * (SPOT[0] + STEP);
    for (let y = y0; y <= Math.max(bottom, y0); y += STEP) if (free(x, y)) return [x, y];
  }
  return [x0, y0];
}

/** Follow a press on a library item: past a few pixels it is a drag, dropped on the canvas it adds the node there. */
function dragItem(app, item, down) {
  let ghost = null;
  const move = (e) => {
    if (!ghost && Math.hypot(e.clientX - down.clientX, e.clientY - down.clientY) < DRAG_START) return;
    if (!ghost) {
      ghost = Object.assign(document.createElement("div"), { className: "library-ghost", textContent: item.textContent });
      ghost.setAttribute("aria-hidden", "true");
      document.body.append(ghost);
    }
    ghost.style.left = `${e.clientX + 8}px`;
    ghost.style.top = `${e.clientY + 8}px`;
  };
  const up = (e) => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    if (!ghost) return; // a click: the click handler adds the node
    ghost.remove();
    const target = document.elementFromPoint(e.clientX, e.clientY);
    if (target && app.canvas.root.contains(target)) addAt(app, item.dataset.type, app.canvas.toWorld(e.clientX, e.clientY));
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}
