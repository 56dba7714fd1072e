// The searchable "add node" menu.

import { rankSchemas } from "./fuzzy.js";

/** Open the menu at client position (x, y) listing `schemas` (optionally filtered); `onPick(type)` adds one. */
export function openNodeMenu(container, x, y, schemas, onPick, filter = null) {
  closeNodeMenu(container);
  const menu = document.createElement("div");
  menu.className = "node-menu";
  menu.setAttribute("data-testid", "node-menu");
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = "Search nodes…";
  search.setAttribute("data-testid", "node-menu-search");
  search.setAttribute("aria-label", "Search node types");
  const list = document.createElement("div");
  list.className = "node-menu-list";
  menu.append(search, list);
  const bounds = container.getBoundingClientRect();
  menu.style.left = `${Math.min(x - bounds.left, bounds.width - 330)}px`;
  menu.style.top = `${Math.min(y - bounds.top, bounds.height - 380)}px`;
  container.append(menu);

  const pool = filter ? schemas.filter(filter) : schemas;
  let shown = [];
  let active = 0;
  const pick = (type) => {
    closeNodeMenu(container);
    onPick(type);
  };
  const draw = () => {
    const query = search.value.trim();
    shown = rankSchemas(pool, query);
    active = Math.min(active, Math.max(0, shown.length - 1));
    list.replaceChildren();
    let category = null;
    shown.forEach((s, i) => {
      if (!query && s.category !== category) {
        category = s.category;
        const head = document.createElement("div");
        head.className = "node-menu-category";
        head.textContent = category;
        list.append(head);
      }
      const item = document.createElement("div");
      item.className = `node-menu-item${i === active ? " active" : ""}`;
      item.setAttribute("data-testid", `node-menu-item-${s.type}`);
      item.dataset.type = s.type;
      item.title = s.description;
      const title = document.createElement("span");
      title.textContent = s.title;
      const id = document.createElement("span");
      id.className = "node-menu-type";
      id.textContent = query ? `${s.category} · ${s.type}` : s.type;
      item.append(title, id);
      item.addEventListener("pointerdown", (e) => {
        e.preventDefault();
        pick(s.type);
      });
      list.append(item);
    });
    if (!shown.length) list.append(Object.assign(document.createElement("div"), { className: "node-menu-empty", textContent: "No node matches" }));
    list.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  };
  search.addEventListener("input", () => {
    active = 0;
    draw();
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") active = Math.min(active + 1, shown.length - 1);
    else if (e.key === "ArrowUp") active = Math.max(active - 1, 0);
    else if (e.key === "Enter" && shown[active]) return pick(shown[active].type);
    else if (e.key === "Escape") return closeNodeMenu(container);
    else return;
    e.preventDefault();
    draw();
  });
  search.addEventListener("blur", () => setTimeout(() => menu.remove(), 150));
  draw();
  search.focus();
}

/** Remove the add-node menu if it is open. */
export function closeNodeMenu(container) {
  container.querySelector(".node-menu")?.remove();
}
