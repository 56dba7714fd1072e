// Workflow tabs: every open graph in its own tab, kept with its undo history across reloads.

import { api } from "./api.js";
import { ask } from "./ask.js";
import { checkWorkflow } from "./graph.js";
import { addShortcut } from "./shortcuts.js";
import { drawTabBar, markTabs } from "./tabbar.js";
import { readTabs, writeTabs } from "./tabstore.js";

const SYNC_DELAY_MS = 200; // edits come in bursts (a drag moves nodes on every pointer move)

/** Wire this concern into the editor; `app` provides the editor's services. Sets `app.tabs`. */
export function installTabs(app) {
  const tabs = new Tabs(app);
  app.tabs = tabs;
  addShortcut("Ctrl+Alt+N", "New workflow tab", () => tabs.newTab(), { typing: true });
  addShortcut("Ctrl+Alt+W", "Close the workflow tab", () => void tabs.close(tabs.active), { typing: true });
  addShortcut("Ctrl+Alt+PageDown", "Next workflow tab", () => tabs.step(1), { typing: true });
  addShortcut("Ctrl+Alt+PageUp", "Previous workflow tab", () => tabs.step(-1), { typing: true });
  addShortcut("Ctrl+Shift+S", "Save the workflow to the server", () => void tabs.saveToServer(), { typing: true });
}

/**
 * The open tabs, each { id, name, workflow, history (undo past/future), view (pan/zoom), saved (the workflow's
 * JSON when last opened or saved; null if never), source (its name in the server's user folder, if saved there) }.
 * The one graph, canvas and undo stack show the active tab; the others wait as data.
 */
class Tabs {
  constructor(app) {
    this.app = app;
    this.list = [];
    this.active = null;
    this.timer = null;
    this.storageWarned = false;
    this.nav = document.querySelector("#workflow-tabs");
    this.nameInput = document.querySelector("#workflow-name");
    app.graph.addEventListener("change", () => this.schedule());
    window.addEventListener("pagehide", () => this.flush());
    this.bindBar();
    this.bindName();
    this.addSaveButton();
  }

  /** Bring back the tabs kept in the browser (or start with one empty tab). */
  restore() {
    const kept = readTabs();
    for (const data of kept?.tabs ?? []) {
      if (!checkWorkflow(data.workflow)) this.list.push({ ...this.blank(), ...data, id: data.id ?? this.freshId() });
    }
    if (!this.list.length) this.list.push(this.blank());
    this.active = this.list.find((t) => t.id === kept?.active) ?? this.list[0];
    this.show();
    this.persist();
  }

  /** Open a workflow in a new tab (in the active one while that is empty and untouched); returns load warnings. */
  open(data, name, source = null) {
    this.capture();
    if (!this.isBlank(this.active)) {
      this.active = this.blank();
      this.list.push(this.active);
    }
    Object.assign(this.active, { name, source });
    const { graph, canvas, undoStack } = this.app;
    canvas.runtime.clear();
    const warnings = graph.load(data);
    undoStack.reset();
    this.active.saved = undoStack.current;
    canvas.select([]);
    canvas.fit();
    this.nameInput.value = name;
    this.redraw();
    return warnings;
  }

  newTab() {
    this.capture();
    this.active = this.blank();
    this.list.push(this.active);
    this.show();
    this.persist();
  }

  select(tab) {
    if (!tab || tab === this.active) return;
    this.capture();
    this.active = tab;
    this.show();
    this.persist();
  }

  /** Show the tab `by` places to the right (left when negative), wrapping around. */
  step(by) {
    const at = this.list.indexOf(this.active);
    this.select(this.list[(at + by + this.list.length) % this.list.length]);
  }

  /** Close a tab, asking first when it has unsaved changes; the last tab closed leaves an empty one. */
  async close(tab) {
    if (this.isUnsaved(tab) && !(await ask(`“${tab.name}” has unsaved changes. Close it anyway?`, "Close without saving"))) {
      return;
    }
    const at = this.list.indexOf(tab);
    if (at < 0) return;
    this.list.splice(at, 1);
    if (!this.list.length) this.list.push(this.blank());
    if (tab === this.active) {
      this.active = this.list[Math.min(at, this.list.length - 1)];
      this.show();
    } else this.redraw();
    this.persist();
  }

  /** Note that the active tab's workflow is saved as it is now (`source`: its name in the user folder, if there). */
  markSaved(workflow = this.app.graph.toWorkflow(), source = this.active.source) {
    this.capture();
    Object.assign(this.active, { saved: JSON.stringify(workflow), source });
    this.redraw();
    this.persist();
  }

  /** PUT the active tab's workflow into the server's user folder under the tab's name (asking before replacing
   * another saved workflow), then list it among the saved ones. */
  async saveToServer() {
    const tab = this.active;
    const name = /\.json$/i.test(tab.name) ? tab.name : `${tab.name}.json`;
    const workflow = this.app.graph.toWorkflow();
    try {
      await api.saveWorkflow(name, workflow, { overwrite: tab.source === name });
    } catch (err) {
      if (err.code !== "conflict") return this.app.toast(`Not saved: ${err.message}`, "error");
      if (!(await ask(`A saved workflow named “${name}” exists. Replace it?`, "Replace"))) return;
      try {
        await api.saveWorkflow(name, workflow, { overwrite: true });
      } catch (again) {
        return this.app.toast(`Not saved: ${again.message}`, "error");
      }
    }
    tab.name = name;
    if (tab === this.active) this.nameInput.value = name;
    Object.assign(tab, { saved: JSON.stringify(workflow), source: name });
    this.redraw();
    this.persist();
    this.app.setStatus(`Saved ${name} on the server`, "ok");
    this.app.refreshWorkflows();
  }

  /** Whether a tab differs from what was last opened or saved. */
  isUnsaved(tab) {
    if (tab === this.active) this.capture();
    const json = JSON.stringify(tab.workflow);
    return tab.saved === null ? Object.keys(tab.workflow.nodes).length > 0 : json !== tab.saved;
  }

  /** Whether a tab is empty and untouched, so opening a workflow may take it over. */
  isBlank(tab) {
    const unsaved = this.isUnsaved(tab); // brings the active tab's copy up to date first
    return !unsaved && Object.keys(tab.workflow.nodes).length === 0 && !tab.history.past?.length;
  }

  blank() {
    const taken = new Set(this.list.map((t) => t.name));
    let name = "untitled.json";
    for (let n = 2; taken.has(name); n++) name = `untitled-${n}.json`;
    const workflow = { format: "graphflow.workflow", version: 1, nodes: {}, ui: { nodes: {} } };
    return { id: this.freshId(), name, workflow, history: {}, view: null, saved: null, source: null };
  }

  freshId() {
    return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  }

  /** Copy the live graph, undo history and view into the active tab. */
  capture() {
    if (!this.active) return;
    const { graph, canvas, undoStack } = this.app;
    Object.assign(this.active, { workflow: graph.toWorkflow(), history: undoStack.export(), view: { ...canvas.view } });
  }

  /** Load the active tab into the graph, undo stack and view. */
  show() {
    const tab = this.active;
    const { graph, canvas, undoStack } = this.app;
    canvas.runtime.clear();
    graph.load(tab.workflow);
    undoStack.import(tab.history);
    canvas.select([]);
    if (tab.view) canvas.setView(tab.view.x, tab.view.y, tab.view.zoom);
    else canvas.fit();
    this.nameInput.value = tab.name;
    drawTabBar(this.nav, this.list, tab.id, (t) => this.isUnsaved(t));
  }

  redraw() {
    drawTabBar(this.nav, this.list, this.active.id, (t) => this.isUnsaved(t));
  }

  schedule() {
    this.timer ??= setTimeout(() => this.flush(), SYNC_DELAY_MS);
  }

  /** Bring the marks and the stored tabs up to date with the graph now. */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.active) return;
    markTabs(this.nav, this.list, this.active.id, (t) => this.isUnsaved(t));
    this.persist();
  }

  persist() {
    this.capture();
    const kept = writeTabs(this.list, this.active.id);
    if (kept < 0 && !this.storageWarned) {
      this.storageWarned = true;
      this.app.toast("The browser's storage is full: open tabs will not come back after a reload", "warn");
    }
  }

  bindBar() {
    this.nav.addEventListener("click", (e) => {
      const action = e.target.closest("[data-action]")?.dataset.action;
      const tab = this.list.find((t) => t.id === e.target.closest(".wf-tab")?.dataset.tabId);
      if (action === "new") this.newTab();
      else if (action === "close") void this.close(tab);
      else if (action === "select") this.select(tab);
    });
    this.nav.addEventListener("mousedown", (e) => {
      if (e.button === 1) e.preventDefault(); // no autoscroll: the middle button closes the tab
    });
    this.nav.addEventListener("auxclick", (e) => {
      const tab = this.list.find((t) => t.id === e.target.closest(".wf-tab")?.dataset.tabId);
      if (e.button === 1 && tab) void this.close(tab);
    });
  }

  bindName() {
    this.nameInput.title = "Name of this workflow tab, used by Save and Save to server";
    this.nameInput.addEventListener("input", () => {
      this.active.name = this.nameInput.value;
      this.flush();
    });
    this.nameInput.addEventListener("change", () => {
      this.active.name = this.nameInput.value.trim() || "untitled.json";
      this.nameInput.value = this.active.name;
      this.flush();
    });
  }

  addSaveButton() {
    const button = document.createElement("button");
    button.id = "btn-save-server";
    button.textContent = "Save to server";
    button.title = "Save the workflow in the server's user folder (Ctrl+Shift+S)";
    button.setAttribute("data-testid", "btn-save-server");
    button.addEventListener("click", () => void this.saveToServer());
    document.querySelector("#btn-save").after(button);
  }
}
