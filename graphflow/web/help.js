// The keyboard shortcuts dialog (`?` or the toolbar's ? button): the shortcuts registry, grouped, one row per action.

import { modalDialog } from "./dialog.js";
import { addShortcut, shortcuts } from "./shortcuts.js";

const MAC = /Mac|iPhone|iPad/.test(navigator.platform);
const GROUPS = ["Workflow", "Editing", "View", "Help"];
const MOUSE = [
  ["Double-click the canvas", "Add a node"],
  ["Drag from an output to an input", "Connect them"],
  ["Drag the empty canvas", "Pan"],
  ["Wheel", "Zoom"],
  ["Shift or Ctrl + drag", "Select the nodes in a box"],
];

/** Add the `?` shortcut and the toolbar button that open the shortcuts dialog. */
export function installHelp() {
  const help = modalDialog({ id: "shortcuts-dialog", title: "Keyboard shortcuts", testid: "shortcuts-dialog" });
  const show = () => {
    help.body.replaceChildren(...keyboardSections(), section("Mouse", MOUSE.map(([what, does]) => row(text(what), does))));
    help.open();
  };
  addShortcut("?", "Show the keyboard shortcuts", show, { group: "Help" });
  document.getElementById("btn-help").addEventListener("click", show);
}

/** One section per group (known groups first), one row per label with every key that does it. */
function keyboardSections() {
  const groups = new Map(GROUPS.map((g) => [g, new Map()]));
  for (const { keys, label, group } of shortcuts) {
    if (!groups.has(group)) groups.set(group, new Map());
    const rows = groups.get(group);
    rows.set(label, [...(rows.get(label) ?? []), keys]);
  }
  return [...groups]
    .filter(([, rows]) => rows.size)
    .map(([group, rows]) => section(group, [...rows].map(([label, keys]) => row(keyCombos(keys), label))));
}

function section(title, rows) {
  const el = document.createElement("section");
  el.className = "shortcut-group";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const table = document.createElement("table");
  table.className = "shortcut-table";
  table.append(...rows);
  el.append(heading, table);
  return el;
}

function row(keys, label) {
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = label;
  const td = document.createElement("td");
  td.append(keys);
  tr.append(th, td);
  return tr;
}

/** "Ctrl+Shift+Z" and "Ctrl+Y" as <kbd> keys joined by "or"; Ctrl reads Cmd on a Mac. */
function keyCombos(list) {
  const frag = document.createDocumentFragment();
  list.forEach((keys, i) => {
    if (i) frag.append(text(" or "));
    keys.split("+").forEach((key, j) => {
      if (j) frag.append(text("+"));
      const kbd = document.createElement("kbd");
      kbd.textContent = MAC && key === "Ctrl" ? "Cmd" : key;
      frag.append(kbd);
    });
  });
  return frag;
}

function text(value) {
  return document.createTextNode(value);
}
