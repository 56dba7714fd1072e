// The DOM of one node: header, typed ports, widgets, progress, previews, outputs and errors.

import { categoryColour, typeColour } from "./types.js";
import { div } from "./dom.js";
import { editInline } from "./inline.js";
import { createWidget } from "./widgets.js";

/**
 * Build the element for graph node `node` (schema may be null for unknown types).
 * `actions`: { setValue(name, v), setPort(name, asPort), rename(title), toggleCollapsed(), services } — services are
 * passed to widgets.
 */
export function buildNode(node, schema, actions) {
  const el = div("node");
  el.dataset.nodeId = node.id;
  el.setAttribute("data-testid", `node-${node.id}`);
  el.dataset.type = node.type;
  el.style.left = `${node.pos[0]}px`;
  el.style.top = `${node.pos[1]}px`;
  if (node.width) el.style.width = `${node.width}px`;
  if (node.mode) el.classList.add(`mode-${node.mode}`);
  el.classList.toggle("collapsed", node.collapsed);

  const header = div("node-header");
  header.style.setProperty("--cat", categoryColour(schema?.category));
  const name = node.title || schema?.title || node.type;
  const title = div("node-title", name);
  title.setAttribute("data-testid", `title-${node.id}`);
  title.title = schema ? `${schema.description}\n\n${node.type} ${node.version} · ${schema.plugin}` : node.type;
  const collapse = button("node-collapse", node.collapsed ? "▸" : "▾", node.collapsed ? "Expand (Alt+C)" : "Collapse (Alt+C)");
  collapse.setAttribute("aria-label", `${node.collapsed ? "Expand" : "Collapse"} ${name}`);
  collapse.setAttribute("aria-expanded", String(!node.collapsed));
  collapse.setAttribute("data-testid", `collapse-${node.id}`);
  collapse.addEventListener("click", () => actions.toggleCollapsed());
  title.addEventListener("dblclick", () => editTitle(title, node.id, actions.rename));
  header.append(collapse, title);
  if (node.mode) header.append(div("node-mode", node.mode === "bypass" ? "bypassed" : "muted"));
  header.append(div("node-id", node.id));
  const resize = div("node-resize");
  resize.setAttribute("role", "separator");
  resize.setAttribute("aria-orientation", "vertical");
  resize.setAttribute("aria-label", `Resize ${name}`);
  resize.setAttribute("data-testid", `resize-${node.id}`);
  el.append(header, progressBar(), resize);

  const body = div("node-body");
  if (!schema) {
    el.classList.add("unknown");
    body.append(div("node-note", `Unknown node type ${node.type}. Install the plugin that provides it.`));
  } else {
    body.append(...slotRows(node, schema, actions), ...widgetRows(node, schema, actions));
  }
  el.append(body, div("node-media"), div("node-error"));
  el.querySelector(".node-error").setAttribute("data-testid", `node-error-${node.id}`);
  return el;
}

/** Edit a node's title in place (`titleEl` is its .node-title); `rename(text)` gets the new title. */
export function editTitle(titleEl, nodeId, rename) {
  editInline(titleEl, titleEl.textContent, rename, `Title of ${nodeId}`);
}

function slotRows(node, schema, actions) {
  const ins = schema.inputs.filter((i) => node.ports.has(i.name));
  const outs = schema.outputs;
  const rows = [];
  for (let r = 0; r < Math.max(ins.length, outs.length); r++) {
    const row = div("slot-row");
    row.append(ins[r] ? inputSlot(node, ins[r], actions) : div("slot"));
    row.append(outs[r] ? outputSlot(node, outs[r]) : div("slot"));
    rows.push(row);
  }
  return rows;
}

function inputSlot(node, input, actions) {
  const slot = div("slot slot-in");
  const label = div("slot-label", input.name);
  label.title = `${input.type}${input.description ? ` — ${input.description}` : ""}`;
  slot.append(port(node.id, "in", input.name, input.type, Boolean(node.links[input.name])), label);
  if (input.required && !node.links[input.name]) slot.classList.add("required");
  if (input.source === "either" && !node.links[input.name]) {
    const back = button("slot-to-widget", "↩", `Type a value for ${input.name} instead`);
    back.setAttribute("data-testid", `to-widget-${node.id}-${input.name}`);
    back.addEventListener("click", () => actions.setPort(input.name, false));
    slot.append(back);
  }
  return slot;
}

function outputSlot(node, output) {
  const slot = div("slot slot-out");
  const label = div("slot-label", output.name);
  label.title = `${output.type}${output.description ? ` — ${output.description}` : ""}`;
  slot.append(label, port(node.id, "out", output.name, output.type, false));
  return slot;
}

function widgetRows(node, schema, actions) {
  return schema.inputs
    .filter((i) => i.source !== "link" && !node.ports.has(i.name))
    .map((input) => {
      const row = div("widget-row");
      row.dataset.input = input.name;
      if (input.source === "either") {
        const dot = port(node.id, "in", input.name, input.type, false);
        dot.classList.add("port-convertible");
        dot.title = `Click to wire ${input.name} from another node`;
        dot.addEventListener("click", () => actions.setPort(input.name, true));
        row.append(dot);
      } else row.append(div("port-spacer"));
      const label = div("widget-label", input.name);
      label.title = input.description || input.type;
      const widget = createWidget(input, node.values[input.name], (v) => actions.setValue(input.name, v), actions.services);
      widget.setAttribute("data-testid", `widget-${node.id}-${input.name}`);
      widget.classList.add("widget");
      row.append(label, widget);
      return row;
    });
}

function port(nodeId, dir, name, type, linked) {
  const dot = div(`port port-${dir}${linked ? " linked" : ""}`);
  dot.dataset.node = nodeId;
  dot.dataset.dir = dir;
  dot.dataset.name = name;
  dot.dataset.type = type;
  dot.setAttribute("data-testid", `port-${nodeId}-${dir}-${name}`);
  dot.style.setProperty("--port", typeColour(type));
  return dot;
}

function progressBar() {
  const bar = div("node-progress");
  bar.append(div("node-progress-fill"));
  return bar;
}

function button(cls, text, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.title = title;
  return b;
}
