// The editor's document: nodes with literal values, links, positions; reads and writes workflow JSON.

import { canFeed } from "./types.js";

export const FORMAT = "graphflow.workflow";
export const FORMAT_VERSION = 1;

/** A graph being edited; fires "change" events (detail.kind) whenever it is modified. */
export class Graph extends EventTarget {
  constructor(catalogue) {
    super();
    this.catalogue = catalogue; // Map type id -> schema
    this.nodes = new Map();
    this.groups = []; // ComfyUI's shape: { title, bounding: [x, y, w, h], color, ... }
    this.notes = []; // { id, text, pos: [x, y], size: [w, h] }
    this.reroutes = []; // { id, pos: [x, y], link: { node, input } }, in wire order for each link
    this.extraUi = {}; // ui keys the editor does not interpret are kept as they are
    this.meta = {};
  }

  schemaOf(node) {
    return this.catalogue.get(node.type) ?? null;
  }

  /** A new node id derived from the type, unique in this graph. */
  freshId(type) {
    const stem = type.split(".").pop().replace(/[^a-z0-9_]/gi, "_") || "node";
    let n = 1;
    while (this.nodes.has(`${stem}_${n}`)) n += 1;
    return `${stem}_${n}`;
  }

  /** Add a node of `type` at world position `pos`, literal inputs set to their defaults. */
  addNode(type, pos, id = null) {
    const schema = this.catalogue.get(type);
    if (!schema) throw new Error(`unknown node type ${type}`);
    const node = {
      id: id ?? this.freshId(type), type, version: schema.version, title: null, plugin: schema.plugin,
      pos: [Math.round(pos[0]), Math.round(pos[1])], width: null, values: {}, links: {}, ports: new Set(),
      mode: null, collapsed: false,
    };
    for (const input of schema.inputs) {
      if (input.source !== "link" && "default" in input) node.values[input.name] = input.default;
      if (input.source === "link") node.ports.add(input.name);
    }
    this.nodes.set(node.id, node);
    this.changed("add");
    return node;
  }

  removeNodes(ids) {
    const gone = new Set(ids);
    for (const id of gone) this.nodes.delete(id);
    for (const node of this.nodes.values()) {
      for (const [name, link] of Object.entries(node.links)) if (gone.has(link.node)) delete node.links[name];
    }
    this.dropStrayReroutes();
    this.changed("remove");
  }

  /** The declared type of an input or output, or null when unknown. */
  portType(nodeId, dir, name) {
    const node = this.nodes.get(nodeId);
    const schema = node && this.schemaOf(node);
    if (!schema) return null;
    const list = dir === "in" ? schema.inputs : schema.outputs;
    return list.find((p) => p.name === name)?.type ?? null;
  }

  /** Why a link cannot be made, or null when it can. */
  linkProblem(src, output, dst, input) {
    if (src === dst) return "a node cannot feed itself";
    const from = this.portType(src, "out", output);
    const to = this.portType(dst, "in", input);
    if (!from || !to) return "unknown port";
    const field = this.schemaOf(this.nodes.get(dst)).inputs.find((i) => i.name === input);
    if (field.source === "literal") return `input ${input} only takes a typed-in value`;
    if (!canFeed(from, to)) return `cannot connect ${from} to ${to}`;
    if (this.reaches(dst, src)) return "that link would make a cycle";
    return null;
  }

  /** Whether `to` is downstream of (or equal to) `from`. */
  reaches(from, to) {
    const seen = new Set();
    const stack = [to];
    while (stack.length) {
      const id = stack.pop();
      if (id === from) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const link of Object.values(this.nodes.get(id)?.links ?? {})) stack.push(link.node);
    }
    return false;
  }

  connect(src, output, dst, input) {
    const problem = this.linkProblem(src, output, dst, input);
    if (problem) return problem;
    const node = this.nodes.get(dst);
    const before = node.links[input];
    if (before && (before.node !== src || before.output !== output)) this.reroutes = this.reroutes.filter((r) => !isOn(r, dst, input));
    node.links[input] = { node: src, output };
    node.ports.add(input);
    this.changed("link");
    return null;
  }

  disconnect(dst, input) {
    const node = this.nodes.get(dst);
    if (!node?.links[input]) return;
    delete node.links[input];
    this.dropStrayReroutes();
    this.changed("unlink");
  }

  setValue(nodeId, input, value) {
    this.nodes.get(nodeId).values[input] = value;
    this.changed("value");
  }

  /** Show an "either" input as a port (true) or as its widget (false); back to a widget drops its link. */
  setPort(nodeId, input, asPort) {
    const node = this.nodes.get(nodeId);
    if (asPort) node.ports.add(input);
    else {
      node.ports.delete(input);
      delete node.links[input];
      this.dropStrayReroutes();
    }
    this.changed("port");
  }

  /** Set the nodes' mode: "bypass", "mute" or null (runs). */
  setMode(ids, mode) {
    for (const id of ids) this.nodes.get(id).mode = mode;
    this.changed("mode");
  }

  /** Give a node its own title (empty or null: the node type's title). */
  setTitle(id, title) {
    this.nodes.get(id).title = title?.trim() || null;
    this.changed("title");
  }

  setCollapsed(ids, collapsed) {
    for (const id of ids) this.nodes.get(id).collapsed = collapsed;
    this.changed("collapse");
  }

  setWidth(id, width) {
    this.nodes.get(id).width = Math.round(width);
    this.changed("size");
  }

  /** Add a group (ComfyUI's shape) and return it. */
  addGroup(title, bounding, color) {
    const group = { title, bounding: bounding.map(Math.round), color };
    this.groups.push(group);
    this.changed("groups");
    return group;
  }

  /** Change fields of the group at `index` (title, color, bounding). */
  updateGroup(index, fields) {
    Object.assign(this.groups[index], fields);
    this.changed("groups");
  }

  removeGroup(index) {
    this.groups.splice(index, 1);
    this.changed("groups");
  }

  addNote(pos, text = "") {
    const note = { id: freshKey("note", this.notes), text, pos: pos.map(Math.round), size: [220, 120] };
    this.notes.push(note);
    this.changed("notes");
    return note;
  }

  updateNote(id, fields) {
    Object.assign(this.notes.find((n) => n.id === id), fields);
    this.changed("notes");
  }

  removeNote(id) {
    this.notes = this.notes.filter((n) => n.id !== id);
    this.changed("notes");
  }

  /** The reroute points of the link into `node`.`input`, in wire order. */
  reroutesOn(node, input) {
    return this.reroutes.filter((r) => isOn(r, node, input));
  }

  /** Add a reroute point on the link into `node`.`input` as its `order`-th point (0 = nearest the source). */
  addReroute(node, input, pos, order) {
    const reroute = { id: freshKey("reroute", this.reroutes), pos: pos.map(Math.round), link: { node, input } };
    const others = this.reroutesOn(node, input);
    const at = order < others.length ? this.reroutes.indexOf(others[order]) : this.reroutes.length;
    this.reroutes.splice(at, 0, reroute);
    this.changed("reroutes");
    return reroute;
  }

  removeReroute(id) {
    this.reroutes = this.reroutes.filter((r) => r.id !== id);
    this.changed("reroutes");
  }

  /** Move groups (by index), notes and reroutes (by id) and nodes by one offset: `what` = { groups, notes, reroutes, nodes }. */
  shift(what, [dx, dy], origin) {
    for (const i of what.groups ?? []) {
      const [x, y, w, h] = origin.groups.get(i);
      this.groups[i].bounding = [Math.round(x + dx), Math.round(y + dy), w, h];
    }
    for (const note of this.notes) if (origin.notes?.has(note.id)) note.pos = moved(origin.notes.get(note.id), dx, dy);
    for (const r of this.reroutes) if (origin.reroutes?.has(r.id)) r.pos = moved(origin.reroutes.get(r.id), dx, dy);
    for (const id of what.nodes ?? []) this.nodes.get(id).pos = moved(origin.nodes.get(id), dx, dy);
    this.changed("move");
  }

  dropStrayReroutes() {
    this.reroutes = this.reroutes.filter((r) => this.nodes.get(r.link.node)?.links[r.link.input]);
  }

  /** Put nodes at new positions: a Map id -> [x, y] (rounded to whole pixels). */
  placeNodes(positions) {
    for (const [id, [x, y]] of positions) this.nodes.get(id).pos = [Math.round(x), Math.round(y)];
    this.changed("move");
  }

  changed(kind) {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind } }));
  }

  /** The workflow JSON object (format v1) for the whole graph, or only `ids` (links leaving the set are dropped). */
  toWorkflow(ids = null) {
    const keep = ids ? new Set(ids) : null;
    const nodes = {};
    const uiNodes = {};
    for (const node of this.nodes.values()) {
      if (keep && !keep.has(node.id)) continue;
      const entry = { type: node.type, version: node.version };
      if (node.plugin) entry.plugin = node.plugin;
      if (node.title) entry.title = node.title;
      if (node.mode) entry.mode = node.mode;
      const inputs = {};
      for (const [name, value] of Object.entries(node.values)) {
        if (!node.ports.has(name) || node.raw) inputs[name] = value;
      }
      const links = {};
      for (const [name, link] of Object.entries(node.links)) {
        if (!keep || keep.has(link.node)) links[name] = { ...link };
      }
      if (Object.keys(inputs).length) entry.inputs = inputs;
      if (Object.keys(links).length) entry.links = links;
      nodes[node.id] = entry;
      const ui = { pos: [...node.pos] };
      if (node.width) ui.size = [node.width, 0];
      if (node.collapsed) ui.collapsed = true;
      const converted = [...node.ports].filter((n) => !(n in links) && this.isEither(node, n));
      if (converted.length) ui.ports = converted;
      uiNodes[node.id] = ui;
    }
    const ui = { ...this.extraUi, nodes: uiNodes };
    if (!keep) Object.assign(ui, this.organiseUi());
    const out = { format: FORMAT, version: FORMAT_VERSION, nodes, ui };
    if (Object.keys(this.meta).length) out.meta = { ...this.meta };
    return out;
  }

  /** The groups, notes and reroutes as the `ui` block stores them (only the kinds there are). */
  organiseUi() {
    const ui = {};
    if (this.groups.length) ui.groups = structuredClone(this.groups);
    if (this.notes.length) ui.notes = structuredClone(this.notes);
    if (this.reroutes.length) ui.reroutes = structuredClone(this.reroutes);
    return ui;
  }

  isEither(node, name) {
    return this.schemaOf(node)?.inputs.find((i) => i.name === name)?.source === "either";
  }

  /** Replace the graph with a workflow JSON object; returns a list of warnings (unknown types, ...). */
  load(data) {
    const problem = checkWorkflow(data);
    if (problem) throw new Error(problem);
    this.nodes = new Map();
    const warnings = [];
    const { nodes: uiNodes = {}, ...extraUi } = data.ui ?? {};
    const [groups, notes, reroutes] = ["groups", "notes", "reroutes"].map((key) => {
      if (!Array.isArray(extraUi[key])) return []; // a key of another shape stays in extraUi as it is
      const list = extraUi[key];
      delete extraUi[key];
      return list;
    });
    this.extraUi = extraUi;
    this.groups = structuredClone(groups); // kept whole; only those with a bounding box are drawn
    this.notes = [];
    for (const n of notes) {
      if (!Array.isArray(n?.pos)) continue;
      const size = Array.isArray(n.size) && n.size[0] > 0 && n.size[1] > 0 ? [...n.size] : [220, 120];
      this.notes.push({ ...n, id: n.id ?? freshKey("note", this.notes), text: String(n.text ?? ""), pos: [...n.pos], size });
    }
    this.meta = data.meta ?? {};
    let auto = 0;
    for (const [id, entry] of Object.entries(data.nodes ?? {})) {
      const ui = uiNodes[id] ?? {};
      const pos = Array.isArray(ui.pos) ? ui.pos : [40 + 280 * (auto % 4), 60 + 220 * Math.floor(auto++ / 4)];
      this.nodes.set(id, this.nodeFromEntry(id, entry, ui, pos, warnings));
    }
    this.reroutes = reroutes.filter((r) => Array.isArray(r?.pos) && r.link).map((r) => structuredClone(r));
    this.dropStrayReroutes();
    this.changed("load");
    return warnings;
  }

  /** Insert nodes of a workflow JSON object (pasting), renaming ids that clash; returns the new ids. */
  insert(data, offset) {
    const rename = new Map();
    for (const [id, entry] of Object.entries(data.nodes ?? {})) {
      const newId = this.nodes.has(id) ? this.freshId(entry.type) : id;
      rename.set(id, newId);
      this.nodes.set(newId, null); // reserved so later fresh ids do not reuse it
    }
    const warnings = [];
    for (const [id, entry] of Object.entries(data.nodes ?? {})) {
      const ui = data.ui?.nodes?.[id] ?? {};
      const pos = [(ui.pos?.[0] ?? 0) + offset[0], (ui.pos?.[1] ?? 0) + offset[1]];
      const links = Object.fromEntries(Object.entries(entry.links ?? {}).map(
        ([name, l]) => [name, { node: rename.get(l.node) ?? l.node, output: l.output }]));
      const newId = rename.get(id);
      this.nodes.set(newId, this.nodeFromEntry(newId, { ...entry, links }, ui, pos, warnings));
    }
    this.changed("paste");
    return [...rename.values()];
  }

  nodeFromEntry(id, entry, ui, pos, warnings) {
    const schema = this.catalogue.get(entry.type);
    const node = {
      id, type: entry.type, version: entry.version ?? "1.0.0", title: entry.title ?? null,
      plugin: entry.plugin ?? schema?.plugin ?? null, pos: [pos[0], pos[1]],
      width: Array.isArray(ui.size) && ui.size[0] > 0 ? ui.size[0] : null,
      values: {}, links: {}, ports: new Set(ui.ports ?? []), raw: !schema,
      mode: entry.mode === "bypass" || entry.mode === "mute" ? entry.mode : null, collapsed: ui.collapsed === true,
    };
    for (const [name, link] of Object.entries(entry.links ?? {})) {
      node.links[name] = { node: link.node, output: link.output };
      node.ports.add(name);
    }
    if (!schema) {
      warnings.push(`node ${id}: unknown node type ${entry.type}` + (entry.plugin ? ` (from plugin ${entry.plugin})` : ""));
      node.values = { ...(entry.inputs ?? {}) };
      return node;
    }
    for (const input of schema.inputs) {
      if (input.source === "link") node.ports.add(input.name);
      else if (entry.inputs && input.name in entry.inputs) node.values[input.name] = entry.inputs[input.name];
      else if ("default" in input) node.values[input.name] = input.default;
    }
    for (const name of Object.keys(entry.inputs ?? {})) {
      if (!schema.inputs.some((i) => i.name === name)) warnings.push(`node ${id}: input ${name} is not an input of ${entry.type}`);
    }
    return node;
  }
}

function isOn(reroute, node, input) {
  return reroute.link.node === node && reroute.link.input === input;
}

function moved([x, y], dx, dy) {
  return [Math.round(x + dx), Math.round(y + dy)];
}

/** `${stem}_N` for the first N no item of `items` has as its id. */
function freshKey(stem, items) {
  const taken = new Set(items.map((i) => i.id));
  let n = 1;
  while (taken.has(`${stem}_${n}`)) n += 1;
  return `${stem}_${n}`;
}

/** Why a JSON value is not a graphflow workflow this editor can open, or null. */
export function checkWorkflow(data) {
  if (!data || typeof data !== "object" || Array.isArray(data)) return "not a workflow: expected a JSON object";
  if (data.format !== FORMAT) return `not a graphflow workflow (missing "format": "${FORMAT}")`;
  if (typeof data.version !== "number") return "workflow has no integer version";
  if (data.version > FORMAT_VERSION) return `workflow format version ${data.version} is newer than this editor understands`;
  if (data.version < FORMAT_VERSION) return `workflow format version ${data.version} is old: open it with the server (it migrates old files)`;
  if (typeof data.nodes !== "object" || data.nodes === null) return "workflow has no nodes object";
  return null;
}
