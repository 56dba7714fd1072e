// Extra parts other modules add to node elements, kept through every re-render of the canvas.

/** Call `decorate(el)` for each node element on `canvas` now and for each one it draws from now on. */
export function decorateNodes(canvas, decorate) {
  for (const el of canvas.nodeLayer.children) decorate(el);
  new MutationObserver((records) => {
    for (const record of records) for (const el of record.addedNodes) if (el.classList?.contains("node")) decorate(el);
  }).observe(canvas.nodeLayer, { childList: true });
}
