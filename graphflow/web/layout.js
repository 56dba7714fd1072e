// Layout on small screens and the ARIA state screen readers need: the side panel as a drawer and the ☰ tools
// menu at 900 px and below (style.css), the panel's tabs, the connection dot, reduced motion.

import { registerSetting, settings } from "./preferences.js";

const NARROW = matchMedia("(max-width: 900px)");
const $ = (sel) => document.querySelector(sel);

registerSetting({
  key: "layout.dockPanel",
  label: "Keep the queue panel beside the canvas on wide screens",
  help: "Off: the panel opens over the canvas from the Panel button, as on narrow screens.",
  type: "boolean",
  default: true,
  group: "Layout",
});
registerSetting({
  key: "motion.reduce",
  label: "Reduce motion",
  help: "No animated transitions. Starts as your system's setting.",
  type: "boolean",
  default: matchMedia("(prefers-reduced-motion: reduce)").matches,
  group: "Accessibility",
});

/** Wire the panel drawer, the tools menu, the tab list and the live labels. */
export function installLayout() {
  sidePanel();
  toolsMenu();
  panelTabs();
  connectionLabel();
  settings.watch("motion.reduce", (reduce) => (document.documentElement.dataset.motion = reduce ? "reduce" : "full"));
}

/** body[data-panel] is "docked" (beside the canvas), "closed" or "open" (over the canvas). */
function sidePanel() {
  const button = $("#btn-panel");
  const panel = $("#panel");
  let open = false;
  const update = () => {
    const docked = settings.get("layout.dockPanel") && !NARROW.matches;
    document.body.dataset.panel = docked ? "docked" : open ? "open" : "closed";
    button.setAttribute("aria-expanded", String(!docked && open));
  };
  const setOpen = (value) => {
    open = value;
    update();
  };
  button.addEventListener("click", () => {
    setOpen(!open);
    if (open) panel.querySelector("[role=tab][aria-selected=true]")?.focus();
  });
  panel.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || document.body.dataset.panel !== "open") return;
    setOpen(false);
    button.focus();
  });
  document.addEventListener("pointerdown", (e) => {
    if (open && !panel.contains(e.target) && !button.contains(e.target)) setOpen(false);
  });
  NARROW.addEventListener("change", update);
  settings.watch("layout.dockPanel", update);
}

/** The ☰ button (shown at 900 px and below) opens the toolbar's tools as a menu; using one closes it. */
function toolsMenu() {
  const toolbar = $("#toolbar");
  const button = $("#btn-more");
  const tools = $("#toolbar-tools");
  const setOpen = (open) => {
    toolbar.classList.toggle("tools-open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => {
    const open = !toolbar.classList.contains("tools-open");
    setOpen(open);
    if (open) tools.querySelector("button, input, select")?.focus();
  });
  tools.addEventListener("click", (e) => e.target.closest("button") && setOpen(false));
  tools.addEventListener("change", (e) => e.target.matches("select") && setOpen(false));
  tools.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !toolbar.classList.contains("tools-open")) return;
    setOpen(false);
    button.focus();
  });
  document.addEventListener("pointerdown", (e) => toolbar.contains(e.target) || setOpen(false));
}

/** The panel's tabs as an ARIA tab list: aria-selected follows the active class (set by panel.js), arrow keys,
 * Home and End move between tabs, and only the selected tab is in the Tab order. */
function panelTabs() {
  const list = $("#panel [role=tablist]");
  const tabs = () => [...list.querySelectorAll("[role=tab]")];
  const sync = () => {
    for (const tab of tabs()) {
      const selected = tab.classList.contains("active");
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
  };
  new MutationObserver(sync).observe(list, { subtree: true, attributes: true, attributeFilter: ["class"] });
  list.addEventListener("keydown", (e) => {
    const all = tabs();
    const at = all.indexOf(e.target);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: all.length - 1 }[e.key];
    if (at < 0 || to === undefined) return;
    e.preventDefault();
    const tab = all[(to + all.length) % all.length];
    tab.focus();
    tab.click();
  });
  sync();
}

/** The connection dot's name says what its colour shows. */
function connectionLabel() {
  const dot = $("#connection");
  const sync = () => {
    const label = dot.classList.contains("up") ? "Connected to the server" : "Not connected to the server";
    dot.setAttribute("aria-label", label);
    dot.title = label;
  };
  new MutationObserver(sync).observe(dot, { attributes: true, attributeFilter: ["class"] });
  sync();
}
