// First-picture defaults: an Empty Latent whose size nobody has set takes the native size of the checkpoint it is for.

import { api } from "./api.js";

const LATENT = "graphflow.latent.empty";
const LOADER = "graphflow.loaders.checkpoint";
const WATCHED = new Set(["add", "paste", "link", "value"]); // not "load": opened files and undo keep their sizes

/** Size Empty Latents to their checkpoint when nodes are added or connected or a loader's choice changes. */
export function installDefaults(app) {
  let sizes = {};
  const given = new Map(); // Empty Latent id -> the side given here, still "untouched" while the node keeps it
  const apply = () => {
    for (const node of app.graph.nodes.values()) {
      if (node.type !== LATENT || !untouched(app, node, given.get(node.id))) continue;
      const side = nativeSide(app.graph, node, sizes);
      if (!side || (node.values.width === side && node.values.height === side)) continue;
      given.set(node.id, side);
      app.edit(() => {
        app.graph.setValue(node.id, "width", side);
        app.graph.setValue(node.id, "height", side);
      });
      app.canvas.render(); // value changes are not redrawn: the widgets made them, except here
    }
  };
  app.graph.addEventListener("change", (e) => WATCHED.has(e.detail.kind) && apply());
  api.models("checkpoints")
    .then((r) => {
      sizes = r.native_sizes ?? {};
      apply();
    })
    .catch(() => {}); // no sizes: Empty Latents keep their defaults
}

/** Whether an Empty Latent still has its schema's size, or the one given here last. */
function untouched(app, node, side) {
  const inputs = app.graph.schemaOf(node)?.inputs ?? [];
  const fallback = (name) => inputs.find((i) => i.name === name)?.default;
  const { width, height } = node.values;
  return (width === fallback("width") && height === fallback("height")) || (side && width === side && height === side);
}

/** The native side of the checkpoint upstream of the latent's consumers, else of every loader if they agree. */
function nativeSide(graph, latent, sizes) {
  const consumers = [...graph.nodes.values()].filter((n) => Object.values(n.links).some((l) => l.node === latent.id));
  const upstream = loadersAbove(graph, consumers.map((n) => n.id));
  const loaders = upstream.length ? upstream : [...graph.nodes.values()].filter((n) => n.type === LOADER);
  const sides = new Set(loaders.map((n) => sizes[n.values.checkpoint]));
  return sides.size === 1 ? [...sides][0] ?? null : null;
}

function loadersAbove(graph, ids) {
  const seen = new Set();
  const stack = [...ids];
  const found = [];
  while (stack.length) {
    const node = graph.nodes.get(stack.pop());
    if (!node || seen.has(node.id)) continue;
    seen.add(node.id);
    if (node.type === LOADER) found.push(node);
    for (const link of Object.values(node.links)) stack.push(link.node);
  }
  return found;
}
