// Pointer and wheel handling on the canvas: pan, zoom, select, move nodes, drag wires.

import { dragPointer } from "./dom.js";
import { canFeed, typeColour } from "./types.js";

const MIN_WIDTH = 160;

/**
 * Attach the canvas interactions. `app` provides: edit(fn) (a recorded change), commit() (record after a
 * drag), toast(text), openMenu(clientX, clientY, filter, then).
 */
export function attachInteractions(canvas, app) {
  const root = canvas.root;
  root.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".node-menu, .context-menu, .organise")) return;
    const port = e.target.closest(".port");
    if (port && e.button === 0 && !port.classList.contains("port-convertible")) return startWire(e, port);
    const node = e.target.closest(".node");
    if (node && e.button === 0 && e.target.closest(".node-resize")) return startResize(e, node);
    if (node && e.button === 0) return startNodeDrag(e, node);
    if (!node && e.button === 0 && (e.shiftKey || e.ctrlKey || e.metaKey)) return startBox(e);
    if (!node && (e.button === 0 || e.button === 1)) return startPan(e);
  });
  root.addEventListener("dblclick", (e) => {
    if (e.target.closest(".node, .node-menu, .context-menu, .organise")) return;
    app.openMenu(e.clientX, e.clientY);
  });
  root.addEventListener("wheel", (e) => {
    if (e.target.closest(".node-menu, textarea, select")) return;
    e.preventDefault();
    canvas.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * 0.0015));
  }, { passive: false });

  function startPan(e) {
    const { x, y, zoom } = canvas.view;
    const [sx, sy] = [e.clientX, e.clientY];
    let moved = false;
    root.classList.add("panning");
    dragPointer((m) => {
      moved ||= Math.hypot(m.clientX - sx, m.clientY - sy) > 3;
      canvas.setView(x + m.clientX - sx, y + m.clientY - sy, zoom);
    }, () => {
      root.classList.remove("panning");
      if (!moved) canvas.select([]);
    });
  }

  function startBox(e) {
    const box = document.createElement("div");
    box.className = "select-box";
    box.setAttribute("data-testid", "select-box");
    root.append(box);
    const r = root.getBoundingClientRect();
    const [sx, sy] = [e.clientX, e.clientY];
    const rect = (m) => [Math.min(sx, m.clientX), Math.min(sy, m.clientY), Math.abs(m.clientX - sx), Math.abs(m.clientY - sy)];
    dragPointer((m) => {
      const [x, y, w, h] = rect(m);
      Object.assign(box.style, { left: `${x - r.left}px`, top: `${y - r.top}px`, width: `${w}px`, height: `${h}px` });
    }, (m) => {
      box.remove();
      const [x, y, w, h] = rect(m);
      const hits = [...canvas.nodeLayer.children].filter((el) => {
        const b = el.getBoundingClientRect();
        return b.left < x + w && b.right > x && b.top < y + h && b.bottom > y;
      });
      canvas.select(hits.map((el) => el.dataset.nodeId));
    });
  }

  function startNodeDrag(e, nodeEl) {
    const id = nodeEl.dataset.nodeId;
    const onControl = e.target.closest("input, textarea, select, button, label");
    if (e.shiftKey) canvas.toggleSelected(id);
    else if (!canvas.selection.has(id)) canvas.select([id]);
    if (onControl || e.shiftKey) return;
    e.preventDefault();
    const origin = new Map([...canvas.selection].map((nid) => [nid, [...canvas.graph.nodes.get(nid).pos]]));
    const start = canvas.toWorld(e.clientX, e.clientY);
    dragPointer((m) => {
      const [x, y] = canvas.toWorld(m.clientX, m.clientY);
      const moved = new Map([...origin].map(([nid, [px, py]]) => [nid, [px + x - start[0], py + y - start[1]]]));
      canvas.graph.placeNodes(moved);
    }, () => app.commit());
  }

  function startResize(e, nodeEl) {
    e.preventDefault();
    const id = nodeEl.dataset.nodeId;
    const [width, start] = [nodeEl.offsetWidth, canvas.toWorld(e.clientX, e.clientY)[0]];
    dragPointer((m) => {
      canvas.graph.setWidth(id, Math.max(MIN_WIDTH, width + canvas.toWorld(m.clientX, m.clientY)[0] - start));
    }, () => app.commit());
  }

  function startWire(e, port) {
    e.preventDefault();
    e.stopPropagation();
    const graph = canvas.graph;
    let from = { node: port.dataset.node, dir: port.dataset.dir, name: port.dataset.name, type: port.dataset.type };
    const existing = from.dir === "in" ? graph.nodes.get(from.node).links[from.name] : null;
    let detached = false;
    if (existing) {
      // Picking up the input end of a wire: carry it from its source output.
      graph.disconnect(from.node, from.name);
      detached = true;
      from = { node: existing.node, dir: "out", name: existing.output, type: graph.portType(existing.node, "out", existing.output) };
    }
    const anchorEl = canvas.portEl(from.node, from.dir, from.name);
    const anchor = canvas.portCentre(anchorEl);
    const colour = typeColour(from.type);
    root.classList.add("wiring");
    root.dataset.wireType = from.type;
    dragPointer((m) => {
      const p = canvas.toWorld(m.clientX, m.clientY);
      if (from.dir === "out") canvas.setDraft(anchor, p, colour);
      else canvas.setDraft(p, anchor, colour);
    }, (m) => {
      root.classList.remove("wiring");
      canvas.setDraft(null);
      const target = dropTarget(document.elementFromPoint(m.clientX, m.clientY), from.dir);
      if (target) return finish(from, target);
      const overCanvas = root.contains(document.elementFromPoint(m.clientX, m.clientY));
      // A wire picked up from an input is gone now, whatever follows: record that before the node menu opens,
      // since closing the menu (Escape) records nothing and the next undo would then skip over it.
      if (detached) app.commit();
      if (overCanvas && !document.elementFromPoint(m.clientX, m.clientY).closest(".node")) offerNodes(from, m.clientX, m.clientY);
    });
  }

  function dropTarget(el, fromDir) {
    if (!el) return null;
    const want = fromDir === "out" ? "in" : "out";
    const port = el.closest(`.port[data-dir="${want}"]`);
    if (port) return { node: port.dataset.node, name: port.dataset.name, portEl: port };
    const row = want === "in" ? el.closest(".widget-row") : null;
    if (row) return { node: row.closest(".node").dataset.nodeId, name: row.dataset.input, portEl: row.querySelector(".port") };
    return null;
  }

  function finish(from, target) {
    const [src, output, dst, input] = from.dir === "out"
      ? [from.node, from.name, target.node, target.name]
      : [target.node, target.name, from.node, from.name];
    const problem = canvas.graph.linkProblem(src, output, dst, input);
    if (problem) {
      target.portEl?.classList.add("refused");
      setTimeout(() => target.portEl?.classList.remove("refused"), 900);
      app.toast(`Link refused: ${problem}`, "error");
      app.commit();
      return;
    }
    app.edit(() => canvas.graph.connect(src, output, dst, input));
  }

  function offerNodes(from, x, y) {
    const fits = (schema) => from.dir === "out"
      ? schema.inputs.some((i) => i.source !== "literal" && canFeed(from.type, i.type))
      : schema.outputs.some((o) => canFeed(o.type, from.type));
    app.openMenu(x, y, fits, (node) => {
      const schema = canvas.graph.schemaOf(node);
      const match = from.dir === "out"
        ? schema.inputs.find((i) => i.source !== "literal" && canFeed(from.type, i.type))
        : schema.outputs.find((o) => canFeed(o.type, from.type));
      finish(from, { node: node.id, name: match.name });
    });
  }
}
