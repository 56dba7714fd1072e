// Notes: free text boxes on the canvas (ComfyUI's Note nodes land here), edited in place, moved by their bar.

import { button, div, dragPointer } from "./dom.js";

/** Draw every note of `graph` into `layer`. */
export function drawNotes(layer, graph) {
  const editing = layer.querySelector(".note-text:focus")?.closest(".note")?.dataset.noteId;
  layer.replaceChildren(...graph.notes.map(noteEl));
  if (editing) layer.querySelector(`.note[data-note-id="${CSS.escape(editing)}"] .note-text`)?.focus();
}

function noteEl(note) {
  const el = div("note");
  el.dataset.noteId = note.id;
  el.setAttribute("data-testid", `note-${note.id}`);
  Object.assign(el.style, { left: `${note.pos[0]}px`, top: `${note.pos[1]}px`, width: `${note.size[0]}px`, height: `${note.size[1]}px` });
  const bar = div("note-bar");
  bar.append(div("note-label", "Note"), button("note-delete", "×", "Delete note", `note-delete-${note.id}`));
  const text = document.createElement("textarea");
  text.className = "note-text";
  text.value = note.text;
  text.spellcheck = false;
  text.setAttribute("aria-label", "Note text");
  text.setAttribute("data-testid", `note-text-${note.id}`);
  el.append(bar, text);
  return el;
}

/** Handle the mouse and typing on the notes in `layer`: drag by the bar, edit the text, delete. */
export function attachNotes(layer, canvas, app) {
  const graph = canvas.graph;
  const idOf = (el) => el.closest(".note").dataset.noteId;
  layer.addEventListener("pointerdown", (e) => {
    const bar = e.target.closest(".note-bar");
    if (!bar || e.button !== 0 || e.target.closest("button")) return;
    e.preventDefault();
    e.stopPropagation();
    const id = idOf(bar);
    const start = canvas.toWorld(e.clientX, e.clientY);
    const origin = { notes: new Map([[id, [...graph.notes.find((n) => n.id === id).pos]]]) };
    dragPointer((m) => {
      const [x, y] = canvas.toWorld(m.clientX, m.clientY);
      graph.shift({}, [x - start[0], y - start[1]], origin);
    }, () => app.commit());
  });
  layer.addEventListener("change", (e) => {
    if (e.target.matches(".note-text")) app.edit(() => graph.updateNote(idOf(e.target), { text: e.target.value }));
  });
  layer.addEventListener("click", (e) => {
    const remove = e.target.closest(".note-delete");
    if (remove) app.edit(() => graph.removeNote(idOf(remove)));
  });
}
