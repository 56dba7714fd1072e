// Small DOM helpers shared by the canvas modules: elements and pointer drags.

/** A <div> with class `cls` and, when given, text. */
export function div(cls, text = null) {
  const el = document.createElement("div");
  el.className = cls;
  if (text !== null) el.textContent = text;
  return el;
}

/** A <button type="button"> with class, text, accessible name and test id. */
export function button(cls, text, label, testid) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.setAttribute("data-testid", testid);
  return b;
}

/** Follow the pointer until it is released: `onMove(event)` on each move, then `onUp(event)`. */
export function dragPointer(onMove, onUp) {
  const up = (e) => {
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", up);
    onUp(e);
  };
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", up);
}
