// The canvas: pan/zoom view, node elements, SVG wires, selection and per-node run state.

import { buildNode } from "./nodeview.js";
import { typeColour } from "./types.js";

const SVG = "http://www.w3.org/2000/svg";
const STRUCTURAL = new Set(["add", "remove", "link", "unlink", "port", "load", "paste", "mode", "title", "collapse"]);

/** Draws a Graph inside `root` and keeps the drawing in step with its "change" events. */
export class Canvas {
  constructor(root, graph, services) {
    this.root = root;
    this.graph = graph;
    this.services = services;
    this.view = { x: 0, y: 0, zoom: 1 };
    this.selection = new Set();
    this.runtime = new Map(); // node id -> { progress, running, errors, media }
    this.world = root.querySelector("#world");
    this.wires = root.querySelector("#wires");
    this.nodeLayer = root.querySelector("#nodes");
    this.draft = null;
    graph.addEventListener("change", (e) => this.onChange(e.detail.kind));
    new ResizeObserver(() => this.drawWires()).observe(this.nodeLayer);
  }

  onChange(kind) {
    if (STRUCTURAL.has(kind)) this.render();
    else if (kind === "move") this.placeNodes();
    else if (kind === "size") this.sizeNodes();
    else if (kind === "reroutes") this.drawWires();
  }

  /** Rebuild every node element and wire from the graph. */
  render() {
    for (const id of [...this.selection]) if (!this.graph.nodes.has(id)) this.selection.delete(id);
    this.nodeLayer.replaceChildren();
    for (const node of this.graph.nodes.values()) {
      const el = buildNode(node, this.graph.schemaOf(node), {
        setValue: (name, v) => this.services.edit(() => this.graph.setValue(node.id, name, v)),
        setPort: (name, asPort) => this.services.edit(() => this.graph.setPort(node.id, name, asPort)),
        rename: (title) => this.services.edit(() => this.graph.setTitle(node.id, title)),
        toggleCollapsed: () => this.services.edit(() => this.graph.setCollapsed([node.id], !node.collapsed)),
        services: this.services,
      });
      el.classList.toggle("selected", this.selection.has(node.id));
      this.nodeLayer.append(el);
      this.applyRuntime(node.id);
    }
    this.drawWires();
  }

  placeNodes() {
    for (const node of this.graph.nodes.values()) {
      const el = this.nodeEl(node.id);
      if (!el) continue;
      el.style.left = `${node.pos[0]}px`;
      el.style.top = `${node.pos[1]}px`;
    }
    this.drawWires();
  }

  sizeNodes() {
    for (const node of this.graph.nodes.values()) {
      const el = this.nodeEl(node.id);
      if (el) el.style.width = node.width ? `${node.width}px` : "";
    }
    this.drawWires();
  }

  nodeEl(id) {
    return this.nodeLayer.querySelector(`.node[data-node-id="${CSS.escape(id)}"]`);
  }

  portEl(nodeId, dir, name) {
    return this.nodeEl(nodeId)?.querySelector(`.port[data-dir="${dir}"][data-name="${CSS.escape(name)}"]`);
  }

  /** The world position of the centre of a port element. */
  portCentre(el) {
    const r = el.getBoundingClientRect();
    return this.toWorld(r.left + r.width / 2, r.top + r.height / 2);
  }

  toWorld(clientX, clientY) {
    const r = this.root.getBoundingClientRect();
    return [(clientX - r.left - this.view.x) / this.view.zoom, (clientY - r.top - this.view.y) / this.view.zoom];
  }

  /** The world point a wire meets a port at: the port's centre, or the title bar's edge of a collapsed node. */
  portPoint(nodeId, dir, name) {
    const node = this.graph.nodes.get(nodeId);
    if (node?.collapsed) {
      const header = this.nodeEl(nodeId)?.querySelector(".node-header");
      if (!header) return null;
      const r = header.getBoundingClientRect();
      return this.toWorld(dir === "in" ? r.left : r.right, r.top + r.height / 2);
    }
    const el = this.portEl(nodeId, dir, name);
    return el ? this.portCentre(el) : null;
  }

  /** The points a link's wire is drawn through: its output, its reroute points, its input. */
  wirePoints(nodeId, input) {
    const link = this.graph.nodes.get(nodeId)?.links[input];
    const from = link && this.portPoint(link.node, "out", link.output);
    const to = this.portPoint(nodeId, "in", input);
    if (!from || !to) return null;
    return [from, ...this.graph.reroutesOn(nodeId, input).map((r) => r.pos), to];
  }

  drawWires() {
    const paths = [];
    for (const node of this.graph.nodes.values()) {
      for (const [input, link] of Object.entries(node.links)) {
        const points = this.wirePoints(node.id, input);
        if (!points) continue;
        const colour = typeColour(this.graph.portType(link.node, "out", link.output) ?? "");
        const hit = wirePath(points, "transparent");
        hit.setAttribute("class", "wire-hit");
        Object.assign(hit.dataset, { node: node.id, input });
        const path = wirePath(points, colour);
        path.setAttribute("data-testid", `wire-${node.id}-${input}`);
        for (const p of [hit, path]) {
          p.dataset.from = `${link.node}.${link.output}`;
          p.dataset.to = `${node.id}.${input}`;
        }
        paths.push(hit, path);
      }
    }
    if (this.draft) paths.push(this.draft);
    this.wires.replaceChildren(...paths);
  }

  /** Show (or with null, remove) the wire being dragged from world point `a` to `b`. */
  setDraft(a, b, colour) {
    this.draft = a ? wirePath([a, b], colour) : null;
    if (this.draft) this.draft.classList.add("draft");
    this.drawWires();
  }

  setView(x, y, zoom) {
    this.view = { x, y, zoom: Math.min(3, Math.max(0.15, zoom)) };
    this.world.style.transform = `translate(${this.view.x}px, ${this.view.y}px) scale(${this.view.zoom})`;
    const grid = 24 * this.view.zoom;
    this.root.style.backgroundSize = `${grid}px ${grid}px, ${grid * 5}px ${grid * 5}px, ${grid * 5}px ${grid * 5}px`;
    this.root.style.backgroundPosition = `${this.view.x}px ${this.view.y}px`;
    this.root.dataset.zoom = this.view.zoom.toFixed(3);
  }

  /** Zoom by `factor` keeping the world point under the client position fixed. */
  zoomAt(clientX, clientY, factor) {
    const [wx, wy] = this.toWorld(clientX, clientY);
    const r = this.root.getBoundingClientRect();
    const zoom = Math.min(3, Math.max(0.15, this.view.zoom * factor));
    this.setView(clientX - r.left - wx * zoom, clientY - r.top - wy * zoom, zoom);
  }

  /** Pan and zoom so every node, group and note is visible. */
  fit() {
    const els = [...this.nodeLayer.children, ...this.world.querySelectorAll(".group, .note")];
    if (!els.length) return this.setView(0, 0, 1);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const el of els) {
      x0 = Math.min(x0, el.offsetLeft);
      y0 = Math.min(y0, el.offsetTop);
      x1 = Math.max(x1, el.offsetLeft + el.offsetWidth);
      y1 = Math.max(y1, el.offsetTop + el.offsetHeight);
    }
    const r = this.root.getBoundingClientRect();
    const zoom = Math.min(1.2, Math.max(0.15, Math.min((r.width - 80) / (x1 - x0), (r.height - 80) / (y1 - y0))));
    this.setView((r.width - (x1 - x0) * zoom) / 2 - x0 * zoom, (r.height - (y1 - y0) * zoom) / 2 - y0 * zoom, zoom);
  }

  select(ids, additive = false) {
    if (!additive) this.selection.clear();
    for (const id of ids) this.selection.add(id);
    this.showSelection();
  }

  toggleSelected(id) {
    if (this.selection.has(id)) this.selection.delete(id);
    else this.selection.add(id);
    this.showSelection();
  }

  showSelection() {
    for (const el of this.nodeLayer.children) el.classList.toggle("selected", this.selection.has(el.dataset.nodeId));
  }

  /** Update the run state of a node (merged into what is known) and redraw it. */
  setRuntime(id, patch) {
    this.runtime.set(id, { ...(this.runtime.get(id) ?? {}), ...patch });
    this.applyRuntime(id);
  }

  clearRuntime(keys) {
    for (const [id, state] of this.runtime) {
      for (const key of keys) delete state[key];
      this.applyRuntime(id);
    }
  }

  applyRuntime(id) {
    const el = this.nodeEl(id);
    const state = this.runtime.get(id);
    if (!el || !state) return;
    el.classList.toggle("running", Boolean(state.running));
    el.classList.toggle("cached", Boolean(state.cached));
    const fill = el.querySelector(".node-progress-fill");
    const p = state.progress;
    el.classList.toggle("has-progress", Boolean(p));
    fill.style.width = p ? `${Math.round((100 * p.value) / Math.max(1, p.max))}%` : "0";
    const errors = state.errors ?? [];
    el.classList.toggle("has-error", errors.length > 0);
    el.querySelector(".node-error").textContent = errors.map((e) => (e.input ? `${e.input}: ` : "") + e.message).join("\n");
    for (const row of el.querySelectorAll(".widget-row, .slot-in")) row.classList.remove("input-error");
    for (const e of errors) {
      if (!e.input) continue;
      el.querySelector(`.widget-row[data-input="${CSS.escape(e.input)}"]`)?.classList.add("input-error");
      el.querySelector(`.port-in[data-name="${CSS.escape(e.input)}"]`)?.parentElement.classList.add("input-error");
    }
    renderMedia(el.querySelector(".node-media"), id, state);
  }
}

function renderMedia(box, id, state) {
  const items = [];
  if (state.preview && state.running) items.push(img(state.preview, "node-preview", `preview-${id}`));
  else for (const url of state.images ?? []) items.push(img(url, "node-image", `image-${id}`));
  for (const text of state.texts ?? []) {
    const pre = document.createElement("pre");
    pre.className = "node-text";
    pre.setAttribute("data-testid", `text-${id}`);
    pre.textContent = text;
    items.push(pre);
  }
  box.replaceChildren(...items);
}

function img(src, cls, testid) {
  const el = document.createElement("img");
  el.src = src;
  el.className = cls;
  el.alt = "";
  el.setAttribute("data-testid", testid);
  return el;
}

/** An SVG path through `points`: one horizontal-ended curve from each point to the next. */
function wirePath(points, colour) {
  let d = `M ${points[0][0]} ${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [[x0, y0], [x1, y1]] = [points[i - 1], points[i]];
    const dx = Math.max(40, Math.abs(x1 - x0) * 0.5);
    d += ` C ${x0 + dx} ${y0}, ${x1 - dx} ${y1}, ${x1} ${y1}`;
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("stroke", colour);
  path.setAttribute("class", "wire");
  return path;
}
