// Align and distribute the selected nodes: a bar over the canvas while 2+ nodes are selected, and Alt+key shortcuts.

import { addShortcut } from "./shortcuts.js";

const SIZE = { x: "w", y: "h" };

/** Each arrangement: its shortcut, its label, and how it moves boxes {id, x, y, w, h} (returns id -> [x, y]). */
const ARRANGEMENTS = [
  { name: "left", keys: "Alt+ArrowLeft", label: "Align left edges", icon: "⇤", place: align("x", 0) },
  { name: "centre", keys: "Alt+Shift+C", label: "Align centres on a vertical line", icon: "↔", place: align("x", 0.5) },
  { name: "right", keys: "Alt+ArrowRight", label: "Align right edges", icon: "⇥", place: align("x", 1) },
  { name: "top", keys: "Alt+ArrowUp", label: "Align top edges", icon: "⤒", place: align("y", 0) },
  { name: "middle", keys: "Alt+Shift+M", label: "Align middles on a horizontal line", icon: "↕", place: align("y", 0.5) },
  { name: "bottom", keys: "Alt+ArrowDown", label: "Align bottom edges", icon: "⤓", place: align("y", 1) },
  { name: "distribute-x", keys: "Alt+H", label: "Distribute horizontally (equal gaps)", icon: "⋯", place: distribute("x") },
  { name: "distribute-y", keys: "Alt+V", label: "Distribute vertically (equal gaps)", icon: "⋮", place: distribute("y") },
];

/** Line up the boxes on one axis: edge 0 = the lowest start, 1 = the highest end, 0.5 = the middle of them all. */
function align(axis, edge) {
  const size = SIZE[axis];
  return (boxes) => {
    const start = Math.min(...boxes.map((b) => b[axis]));
    const end = Math.max(...boxes.map((b) => b[axis] + b[size]));
    const line = start + (end - start) * edge;
    return new Map(boxes.map((b) => [b.id, moved(b, axis, line - b[size] * edge)]));
  };
}

/** Space the boxes along an axis with equal gaps, the first and the last staying where they are. */
function distribute(axis) {
  const size = SIZE[axis];
  return (boxes) => {
    const sorted = [...boxes].sort((a, b) => a[axis] - b[axis]);
    const first = sorted[0];
    const last = sorted.at(-1);
    const span = last[axis] + last[size] - first[axis];
    const gap = (span - sorted.reduce((sum, b) => sum + b[size], 0)) / (sorted.length - 1);
    let at = first[axis];
    return new Map(sorted.map((b) => {
      const place = moved(b, axis, at);
      at += b[size] + gap;
      return [b.id, place];
    }));
  };
}

function moved(box, axis, value) {
  return axis === "x" ? [value, box.y] : [box.x, value];
}

/** Add the shortcuts and the selection bar. */
export function installArrange(app) {
  const bar = document.createElement("div");
  bar.className = "selection-bar";
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "Arrange the selected nodes");
  bar.setAttribute("data-testid", "selection-bar");
  bar.hidden = true;
  for (const a of ARRANGEMENTS) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = a.icon;
    button.title = `${a.label} (${a.keys.replace("Arrow", "")})`;
    button.setAttribute("aria-label", a.label);
    button.setAttribute("data-testid", `arrange-${a.name}`);
    button.addEventListener("click", () => arrange(app, a));
    bar.append(button);
    addShortcut(a.keys, a.label, () => arrange(app, a), { group: "Arrange" });
  }
  document.body.append(bar);

  const update = () => {
    const r = app.canvas.root.getBoundingClientRect();
    bar.hidden = selectedIds(app).length < 2;
    Object.assign(bar.style, { left: `${r.left + r.width / 2}px`, top: `${r.bottom - 12}px` });
  };
  // the canvas has no selection event: follow the one method every selection change goes through
  const showSelection = app.canvas.showSelection.bind(app.canvas);
  app.canvas.showSelection = () => {
    showSelection();
    update();
  };
  app.graph.addEventListener("change", update);
  window.addEventListener("resize", update);
}

function selectedIds(app) {
  return [...app.canvas.selection].filter((id) => app.graph.nodes.has(id));
}

/** Move the selected nodes as `arrangement` says, as one undoable edit; false (key left alone) under 2 nodes. */
function arrange(app, arrangement) {
  const ids = selectedIds(app);
  if (ids.length < 2) return false;
  const boxes = ids.map((id) => {
    const { pos } = app.graph.nodes.get(id);
    const el = app.canvas.nodeEl(id);
    return { id, x: pos[0], y: pos[1], w: el?.offsetWidth ?? 0, h: el?.offsetHeight ?? 0 };
  });
  app.edit(() => app.graph.placeNodes(arrangement.place(boxes)));
  return true;
}
