// The canvas's right-click menu: each concern adds a provider that offers items for what was clicked.

const providers = [];

/** Add `provide(target, clientX, clientY)` returning menu items [{ label, run, testid }] for a right-click. */
export function addContextItems(provide) {
  providers.push(provide);
}

/** Open the menu on right-clicks inside `root`, with the items every provider offers for the clicked element. */
export function bindContextMenu(root) {
  root.addEventListener("contextmenu", (e) => {
    if (e.target.closest("input, textarea, select")) return;
    const items = providers.flatMap((provide) => provide(e.target, e.clientX, e.clientY));
    if (!items.length) return;
    e.preventDefault();
    open(root, e.clientX, e.clientY, items);
  });
}

function open(root, x, y, items) {
  close(root);
  const menu = document.createElement("div");
  menu.className = "context-menu";
  menu.setAttribute("role", "menu");
  menu.setAttribute("data-testid", "context-menu");
  for (const item of items) {
    const entry = document.createElement("button");
    entry.type = "button";
    entry.className = "context-item";
    entry.setAttribute("role", "menuitem");
    entry.setAttribute("data-testid", `context-${item.testid}`);
    entry.textContent = item.label;
    entry.addEventListener("click", () => {
      close(root);
      item.run();
    });
    menu.append(entry);
  }
  const r = root.getBoundingClientRect();
  Object.assign(menu.style, { left: `${x - r.left}px`, top: `${y - r.top}px` });
  root.append(menu);
  menu.querySelector("button").focus();
  const away = (e) => {
    if (e.type === "keydown" ? e.key !== "Escape" : menu.contains(e.target)) return;
    close(root);
    window.removeEventListener("pointerdown", away, true);
    window.removeEventListener("keydown", away, true);
  };
  window.addEventListener("pointerdown", away, true);
  window.addEventListener("keydown", away, true);
}

function close(root) {
  root.querySelector(".context-menu")?.remove();
}
