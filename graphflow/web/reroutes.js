// Reroute points: points on a wire that it is drawn through (layout only: they never change what runs).

import { div, dragPointer } from "./dom.js";

/** Draw every reroute point of `graph` into `layer`. */
export function drawReroutes(layer, graph) {
  layer.replaceChildren(...graph.reroutes.map((r) => {
    const el = div("reroute");
    el.dataset.rerouteId = r.id;
    el.setAttribute("data-testid", `reroute-${r.id}`);
    el.setAttribute("role", "img"); // a named point on a wire (a bare div may not carry a label)
    el.setAttribute("aria-label", "Reroute point (drag to move, double-click to remove)");
    el.title = "Drag to move; double-click to remove";
    Object.assign(el.style, { left: `${r.pos[0]}px`, top: `${r.pos[1]}px` });
    return el;
  }));
}

/** Add a reroute point where a wire's hit path `hit` was clicked (client point x, y). */
export function rerouteAt(canvas, app, hit, x, y) {
  const { node, input } = hit.dataset;
  const points = canvas.wirePoints(node, input);
  if (!points) return;
  const p = canvas.toWorld(x, y);
  let order = 0;
  for (let i = 1; i < points.length - 1; i++) {
    if (segmentDistance(p, points[i], points[i + 1]) < segmentDistance(p, points[order], points[order + 1])) order = i;
  }
  app.edit(() => canvas.graph.addReroute(node, input, p, order));
}

/** Handle the mouse on the wires and the reroute points: Alt+click or double-click a wire adds a point; drag a
 * point to move it, double-click it to remove it. */
export function attachReroutes(layer, canvas, app) {
  const graph = canvas.graph;
  const onWire = (e) => {
    const hit = e.target.closest?.(".wire-hit");
    if (!hit) return;
    e.stopPropagation();
    rerouteAt(canvas, app, hit, e.clientX, e.clientY);
  };
  canvas.wires.addEventListener("dblclick", onWire);
  canvas.wires.addEventListener("click", (e) => e.altKey && onWire(e));
  canvas.wires.addEventListener("pointerdown", (e) => e.altKey && e.stopPropagation()); // Alt+click: no pan
  layer.addEventListener("pointerdown", (e) => {
    const dot = e.target.closest(".reroute");
    if (!dot || e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    const id = dot.dataset.rerouteId;
    const start = canvas.toWorld(e.clientX, e.clientY);
    const origin = { reroutes: new Map([[id, [...graph.reroutes.find((r) => r.id === id).pos]]]) };
    dragPointer((m) => {
      const [x, y] = canvas.toWorld(m.clientX, m.clientY);
      graph.shift({}, [x - start[0], y - start[1]], origin);
    }, () => app.commit());
  });
  layer.addEventListener("dblclick", (e) => {
    const dot = e.target.closest(".reroute");
    if (dot) app.edit(() => graph.removeReroute(dot.dataset.rerouteId));
  });
}

function segmentDistance([px, py], [ax, ay], [bx, by]) {
  const [dx, dy] = [bx - ax, by - ay];
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}
