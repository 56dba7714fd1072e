// Groups: coloured frames drawn behind the nodes (ComfyUI's `groups` shape), moved with the nodes inside them.

import { button, div, dragPointer } from "./dom.js";
import { editInline } from "./inline.js";

const PAD = 12;
const TITLE = 34;
const MIN_SIZE = [120, 70];
export const GROUP_COLOUR = "#3f789e"; // ComfyUI's default group colour

/** Draw every group of `app.graph` into `layer`. */
export function drawGroups(layer, graph) {
  layer.replaceChildren(...graph.groups.flatMap((group, index) => (drawable(group) ? [groupEl(group, index)] : [])));
}

function drawable(group) {
  return Array.isArray(group?.bounding) && group.bounding.length === 4 && group.bounding.every(Number.isFinite);
}

function groupEl(group, index) {
  const [x, y, w, h] = group.bounding;
  const el = div("group");
  el.dataset.index = index;
  el.setAttribute("data-testid", `group-${index}`);
  Object.assign(el.style, { left: `${x}px`, top: `${y}px`, width: `${w}px`, height: `${h}px` });
  el.style.setProperty("--group", group.color || GROUP_COLOUR);
  const header = div("group-header");
  const title = div("group-title", group.title || "Group");
  title.setAttribute("data-testid", `group-title-${index}`);
  title.title = "Double-click to rename; drag to move the group and its nodes";
  const colour = document.createElement("input");
  colour.type = "color";
  colour.className = "group-colour";
  colour.value = hex6(group.color || GROUP_COLOUR);
  colour.setAttribute("aria-label", `Colour of group ${group.title || "Group"}`);
  colour.setAttribute("data-testid", `group-colour-${index}`);
  const remove = button("group-delete", "×", `Delete group ${group.title || "Group"} (its nodes stay)`, `group-delete-${index}`);
  header.append(title, colour, remove);
  const corner = div("group-resize");
  corner.setAttribute("role", "separator");
  corner.setAttribute("aria-label", `Resize group ${group.title || "Group"}`);
  corner.setAttribute("data-testid", `group-resize-${index}`);
  el.append(header, corner);
  return el;
}

/** Handle the mouse on the groups in `layer`: drag a title bar (moving what is inside), resize, rename, recolour, delete. */
export function attachGroups(layer, canvas, app) {
  const graph = canvas.graph;
  const indexOf = (el) => Number(el.closest(".group").dataset.index);
  layer.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || e.target.closest("input, button")) return;
    const corner = e.target.closest(".group-resize");
    const header = e.target.closest(".group-header");
    if (!corner && !header) return;
    e.preventDefault();
    e.stopPropagation();
    const index = indexOf(e.target);
    const start = canvas.toWorld(e.clientX, e.clientY);
    const delta = (m) => {
      const [x, y] = canvas.toWorld(m.clientX, m.clientY);
      return [x - start[0], y - start[1]];
    };
    if (corner) {
      const [x, y, w, h] = graph.groups[index].bounding;
      dragPointer((m) => {
        const [dx, dy] = delta(m);
        graph.updateGroup(index, { bounding: [x, y, Math.round(Math.max(MIN_SIZE[0], w + dx)), Math.round(Math.max(MIN_SIZE[1], h + dy))] });
      }, () => app.commit());
      return;
    }
    const inside = contents(canvas, graph.groups[index].bounding);
    const origin = {
      groups: new Map([[index, [...graph.groups[index].bounding]]]),
      nodes: new Map(inside.nodes.map((id) => [id, [...graph.nodes.get(id).pos]])),
      notes: new Map(inside.notes.map((n) => [n.id, [...n.pos]])),
      reroutes: new Map(inside.reroutes.map((r) => [r.id, [...r.pos]])),
    };
    dragPointer((m) => graph.shift({ groups: [index], nodes: inside.nodes }, delta(m), origin), () => app.commit());
  });
  layer.addEventListener("dblclick", (e) => {
    const title = e.target.closest(".group-title");
    if (!title) return;
    e.stopPropagation();
    const index = indexOf(title);
    editInline(title, graph.groups[index].title ?? "", (text) => app.edit(() => graph.updateGroup(index, { title: text })), "Group title");
  });
  layer.addEventListener("change", (e) => {
    if (!e.target.matches(".group-colour")) return;
    const index = indexOf(e.target);
    app.edit(() => graph.updateGroup(index, { color: e.target.value }));
  });
  layer.addEventListener("click", (e) => {
    const remove = e.target.closest(".group-delete");
    if (remove) app.edit(() => graph.removeGroup(indexOf(remove)));
  });
}

/** Put a new group around the selected nodes (with none selected, say so). */
export function groupSelection(canvas, app) {
  const ids = [...canvas.selection];
  if (!ids.length) return app.toast("Select the nodes to group first");
  const boxes = ids.map((id) => nodeBox(canvas, id));
  const x0 = Math.min(...boxes.map((b) => b[0])) - PAD;
  const y0 = Math.min(...boxes.map((b) => b[1])) - PAD - TITLE;
  const x1 = Math.max(...boxes.map((b) => b[0] + b[2])) + PAD;
  const y1 = Math.max(...boxes.map((b) => b[1] + b[3])) + PAD;
  app.edit(() => canvas.graph.addGroup("Group", [x0, y0, x1 - x0, y1 - y0], GROUP_COLOUR));
}

/** The nodes, notes and reroutes whose centre lies inside a group's bounding box. */
function contents(canvas, [x, y, w, h]) {
  const inBox = ([cx, cy]) => cx >= x && cx <= x + w && cy >= y && cy <= y + h;
  const graph = canvas.graph;
  return {
    nodes: [...graph.nodes.keys()].filter((id) => {
      const [bx, by, bw, bh] = nodeBox(canvas, id);
      return inBox([bx + bw / 2, by + bh / 2]);
    }),
    notes: graph.notes.filter((n) => inBox([n.pos[0] + n.size[0] / 2, n.pos[1] + n.size[1] / 2])),
    reroutes: graph.reroutes.filter((r) => inBox(r.pos)),
  };
}

/** A node's box in world units: [x, y, width, height]. */
function nodeBox(canvas, id) {
  const node = canvas.graph.nodes.get(id);
  const el = canvas.nodeEl(id);
  return [node.pos[0], node.pos[1], el?.offsetWidth ?? 0, el?.offsetHeight ?? 0];
}

/** "#a88" or "#aa8888" as the 6-digit form a colour input takes (anything else: the default colour). */
function hex6(colour) {
  const short = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(colour);
  if (short) return `#${short[1]}${short[1]}${short[2]}${short[2]}${short[3]}${short[3]}`.toLowerCase();
  return /^#[0-9a-f]{6}$/i.test(colour) ? colour.toLowerCase() : GROUP_COLOUR;
}
