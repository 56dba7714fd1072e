// Inline text editing: a text field over a label, Enter keeps the text, Escape cancels.

/** Replace `label`'s text with a text field holding `text`; `done(newText)` is called on Enter or blur. */
export function editInline(label, text, done, name) {
  const field = document.createElement("input");
  field.className = "inline-edit";
  field.value = text;
  field.setAttribute("aria-label", name);
  field.setAttribute("data-testid", "inline-edit");
  const shown = label.textContent;
  label.replaceChildren(field);
  field.focus();
  field.select();
  let finished = false;
  const finish = (keep) => {
    if (finished) return;
    finished = true;
    label.textContent = shown;
    if (keep && field.value !== text) done(field.value);
  };
  field.addEventListener("keydown", (e) => {
    e.stopPropagation(); // the editor's shortcuts (Delete, Ctrl+Z, ...) wait until the edit ends
    if (e.key === "Enter") finish(true);
    else if (e.key === "Escape") finish(false);
  });
  field.addEventListener("blur", () => finish(true));
  field.addEventListener("pointerdown", (e) => e.stopPropagation());
  field.addEventListener("dblclick", (e) => e.stopPropagation());
}
