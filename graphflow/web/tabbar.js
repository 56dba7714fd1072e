// The row of workflow tabs: a button per tab (name, unsaved mark, close) and a "+" for a new one.

/** Draw every tab into `nav`; `tabs` are { id, name }, `active` the shown one's id, `unsaved(tab)` its mark. */
export function drawTabBar(nav, tabs, active, unsaved) {
  nav.replaceChildren(...tabs.map((tab) => tabElement(tab)));
  const add = document.createElement("button");
  add.className = "wf-tab-new";
  add.dataset.action = "new";
  add.textContent = "+";
  add.title = "New workflow tab (Ctrl+Alt+N)";
  add.setAttribute("aria-label", "New workflow tab");
  add.setAttribute("data-testid", "new-tab");
  nav.append(add);
  markTabs(nav, tabs, active, unsaved);
}

/** Update names, the active tab and the unsaved marks without rebuilding the buttons (a click may be under way). */
export function markTabs(nav, tabs, active, unsaved) {
  for (const tab of tabs) {
    const el = nav.querySelector(`.wf-tab[data-tab-id="${CSS.escape(tab.id)}"]`);
    if (!el) continue;
    const dirty = unsaved(tab);
    const open = el.querySelector(".wf-tab-name");
    open.querySelector(".wf-tab-label").textContent = tab.name;
    open.title = dirty ? `${tab.name}: unsaved changes` : tab.name;
    open.setAttribute("aria-label", dirty ? `${tab.name} (unsaved changes)` : tab.name);
    if (tab.id === active) open.setAttribute("aria-current", "true");
    else open.removeAttribute("aria-current");
    el.classList.toggle("active", tab.id === active);
    el.dataset.unsaved = String(dirty);
    el.querySelector(".wf-tab-mark").hidden = !dirty;
    el.querySelector(".wf-tab-close").setAttribute("aria-label", `Close ${tab.name}`);
  }
}

function tabElement(tab) {
  const el = document.createElement("div");
  el.className = "wf-tab";
  el.dataset.tabId = tab.id;
  el.setAttribute("data-testid", "workflow-tab");
  const open = document.createElement("button");
  open.className = "wf-tab-name";
  open.dataset.action = "select";
  open.setAttribute("data-testid", "workflow-tab-open");
  const label = document.createElement("span");
  label.className = "wf-tab-label";
  const mark = document.createElement("span");
  mark.className = "wf-tab-mark";
  mark.textContent = "•";
  mark.setAttribute("aria-hidden", "true");
  mark.setAttribute("data-testid", "unsaved-mark");
  open.append(label, mark);
  const close = document.createElement("button");
  close.className = "wf-tab-close";
  close.dataset.action = "close";
  close.textContent = "×";
  close.title = "Close (Ctrl+Alt+W; or middle-click the tab)";
  close.setAttribute("data-testid", "workflow-tab-close");
  el.append(open, close);
  return el;
}
