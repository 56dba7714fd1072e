// Seed control after a run ("control after generate", as in ComfyUI): each node's seeds stay fixed, go up or down by
// one, or are drawn at random once a prompt is queued, so the next run differs. Modes live in the workflow's
// `ui.seed_control` ({node id: mode}; fixed nodes are left out).

import { decorateNodes } from "./nodedecor.js";

const UI_KEY = "seed_control";
const MODES = [["fixed", "fixed"], ["increment", "increment"], ["decrement", "decrement"], ["randomize", "randomise"]];
const RANDOM_MAX = 2 ** 32 - 1; // the seed widget's dice draws from the same range

/** Draws a mode selector under the seed widgets of each node and moves the seeds when `advance()` is called. */
export class SeedControl {
  constructor(app) {
    this.app = app;
    this.advancing = false; // true while `advance()` edits the graph
    decorateNodes(app.canvas, (el) => this.decorate(el));
  }

  get graph() {
    return this.app.graph;
  }

  /** The mode of a node: "fixed", "increment", "decrement" or "randomize". */
  mode(nodeId) {
    return this.graph.extraUi[UI_KEY]?.[nodeId] ?? "fixed";
  }

  setMode(nodeId, mode) {
    const modes = Object.fromEntries(Object.entries(this.graph.extraUi[UI_KEY] ?? {}).filter(([id]) => this.graph.nodes.has(id) && id !== nodeId));
    if (mode !== "fixed") modes[nodeId] = mode;
    this.app.edit(() => {
      const { [UI_KEY]: _, ...rest } = this.graph.extraUi;
      this.graph.extraUi = Object.keys(modes).length ? { ...rest, [UI_KEY]: modes } : rest;
      this.graph.changed("seed_control");
    });
  }

  /** The seed inputs of a node that show a widget (a wired seed is not ours to change). */
  seedInputs(node) {
    return (this.graph.schemaOf(node)?.inputs ?? []).filter((i) => i.widget === "seed" && !node.ports.has(i.name));
  }

  decorate(el) {
    const node = this.graph.nodes.get(el.dataset.nodeId);
    const inputs = node ? this.seedInputs(node) : [];
    if (!inputs.length) return;
    const rows = inputs.map((i) => el.querySelector(`.widget-row[data-input="${CSS.escape(i.name)}"]`)).filter(Boolean);
    if (!rows.length) return;
    const label = document.createElement("label");
    label.className = "seed-control";
    const text = document.createElement("span");
    text.className = "seed-control-label";
    text.textContent = "after run";
    const select = document.createElement("select");
    select.className = "w-select";
    select.title = "What the seed does after each queued run";
    select.setAttribute("data-testid", `seed-control-${node.id}`);
    for (const [value, shown] of MODES) select.append(new Option(shown, value, false, value === this.mode(node.id)));
    select.addEventListener("change", () => this.setMode(node.id, select.value));
    label.append(text, select);
    rows.at(-1).after(label);
  }

  /** Move every seed by its node's mode, as one undoable edit, and show the new values. */
  advance() {
    const changes = [];
    for (const [id, mode] of Object.entries(this.graph.extraUi[UI_KEY] ?? {})) {
      const node = this.graph.nodes.get(id);
      if (!node || mode === "fixed") continue;
      for (const input of this.seedInputs(node)) changes.push([id, input.name, nextSeed(mode, node.values[input.name] ?? 0, input)]);
    }
    if (!changes.length) return;
    this.advancing = true;
    try {
      this.app.edit(() => {
        for (const [id, name, value] of changes) this.graph.setValue(id, name, value);
      });
    } finally {
      this.advancing = false;
    }
    for (const [id, name, value] of changes) {
      const field = this.app.canvas.nodeEl(id)?.querySelector(`.widget-row[data-input="${CSS.escape(name)}"] input`);
      if (field) field.value = value;
    }
  }
}

function nextSeed(mode, value, input) {
  const low = input.min ?? 0;
  const high = Math.min(input.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (mode === "increment") return Math.min(high, value + 1);
  if (mode === "decrement") return Math.max(low, value - 1);
  if (mode === "randomize") return low + Math.floor(Math.random() * (Math.min(high, RANDOM_MAX) - low + 1));
  return value;
}
