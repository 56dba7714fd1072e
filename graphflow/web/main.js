// Starts the editor: loads the catalogue, builds the canvas and wires the toolbar, keys, panel and websocket.

import { api } from "./api.js";
import { Canvas } from "./canvas.js";
import { acceptDrops, download, pickFile } from "./files.js";
import { Graph, checkWorkflow } from "./graph.js";
import { attachInteractions } from "./interact.js";
import { openNodeMenu } from "./menu.js";
import { Panel } from "./panel.js";
import { readOutputs } from "./outputs.js";
import { RunView } from "./run.js";
import { embeddingNames } from "./suggest.js";
import { bindShortcuts } from "./shortcuts.js";
import { UndoStack } from "./undo.js";
import { connect } from "./ws.js";
import { installPainter } from "./painter.js";
import { installTabs } from "./tabs.js";
import { installOrganise } from "./organise.js";
import { installViewer } from "./viewer.js";
import { installLibrary } from "./library.js";
import { installSettings } from "./settings.js";

const $ = (sel) => document.querySelector(sel);

async function start() {
  let catalogue;
  try {
    catalogue = await api.nodes();
  } catch (err) {
    $("#status").textContent = `Cannot load the node catalogue: ${err.message}`;
    return;
  }
  const schemas = catalogue.nodes;
  const graph = new Graph(new Map(schemas.map((s) => [s.type, s])));
  const root = $("#canvas");
  let pointer = [0, 0];
  root.addEventListener("pointermove", (e) => (pointer = [e.clientX, e.clientY]));

  const app = {
    graph, clientId: sessionId(),
    edit(fn) {
      const result = fn();
      undo.record();
      return result;
    },
    commit: () => undo.record(),
    toast, setStatus,
    undo: () => undo.undo() || toast("Nothing to undo"),
    redo: () => undo.redo() || toast("Nothing to redo"),
    queue: () => runs.queue(),
    save() {
      const workflow = graph.toWorkflow();
      download(workflow, app.tabs.active.name);
      app.tabs.markSaved(workflow);
    },
    openFile: () => pickFile($("#file-input"), open, (m) => toast(m, "error")),
    deleteSelection() {
      const ids = [...canvas.selection];
      if (ids.length) app.edit(() => graph.removeNodes(ids));
    },
    pointerWorld() {
      const r = root.getBoundingClientRect();
      const inside = pointer[0] > r.left && pointer[0] < r.right && pointer[1] > r.top && pointer[1] < r.bottom;
      return inside ? canvas.toWorld(...pointer) : canvas.toWorld(r.left + r.width / 3, r.top + r.height / 3);
    },
    openMenu(x, y, filter = null, then = null) {
      const pos = canvas.toWorld(x, y);
      openNodeMenu(root, x, y, schemas, (type) => {
        const node = graph.addNode(type, pos);
        canvas.select([node.id]);
        if (then) then(node);
        else undo.record();
      }, filter);
    },
    async openRecord(id) {
      try {
        const record = await api.prompt(id);
        open(record.workflow, `run-${record.number}.json`);
        for (const [nodeId, ui] of Object.entries(record.outputs ?? {})) canvas.setRuntime(nodeId, readOutputs(ui, api.viewUrl));
      } catch (err) {
        toast(err.message, "error");
      }
    },
    refreshPanels: () => panel.refresh(),
    refreshWorkflows: () => loadExamples(),
    setQueueCount(pending, running) {
      $("#queue-count").textContent = `${pending} pending${running ? " · 1 running" : ""}`;
      panel.refresh();
    },
    uploadImage: (file) => api.uploadImage(file).catch((err) => toast(err.message, "error")),
    embeddingNames: () => api.models("embeddings").then((r) => embeddingNames(r.files)),
    viewUrl: api.viewUrl,
  };
  const canvas = new Canvas(root, graph, app);
  app.canvas = canvas;
  const undo = new UndoStack(graph);
  app.undoStack = undo;
  const runs = new RunView(canvas, app);
  const panel = new Panel($("#panel"), app);

  /** Open a workflow in a tab of its own; `source` is its name in the server's user folder when it came from there. */
  function open(data, name = "workflow.json", source = null) {
    const problem = checkWorkflow(data);
    if (problem) return toast(`${name}: ${problem}`, "error");
    const warnings = app.tabs.open(data, name.replace(/\.png$/i, ".json"), source);
    setStatus(warnings.length ? warnings.join("; ") : `Opened ${name}`, warnings.length ? "warn" : "ok");
    for (const w of warnings) toast(w, "warn");
  }

  graph.addEventListener("change", () => ($("#empty-hint").hidden = graph.nodes.size > 0));
  attachInteractions(canvas, app);
  bindShortcuts(app);
  acceptDrops(root, open, (m) => toast(m, "error"));
  bindToolbar(app, open);
  for (const install of [installPainter, installTabs, installOrganise, installViewer, installLibrary, installSettings]) install(app);
  for (const p of catalogue.problems ?? []) toast(`Plugin ${p.plugin}: ${p.message}`, "warn");

  app.tabs.restore();
  connect(api.wsUrl(app.clientId), {
    onEvent: (type, data) => runs.onEvent(type, data),
    onPreview: (header, blob) => runs.onPreview(header, blob),
    onStatus: (up) => $("#connection").classList.toggle("up", up),
  });
  panel.refresh();
  loadExamples();
  window.graphflow = app; // a handle for debugging and for the browser tests
  document.body.dataset.ready = "true";
}

function bindToolbar(app, open) {
  $("#btn-open").addEventListener("click", () => app.openFile());
  $("#btn-save").addEventListener("click", () => app.save());
  $("#btn-queue").addEventListener("click", () => app.queue());
  $("#btn-undo").addEventListener("click", () => app.undo());
  $("#btn-redo").addEventListener("click", () => app.redo());
  $("#btn-fit").addEventListener("click", () => app.canvas.fit());
  $("#btn-clear").addEventListener("click", () => {
    app.edit(() => app.graph.removeNodes([...app.graph.nodes.keys()]));
  });
  $("#btn-add").addEventListener("click", () => {
    const r = $("#canvas").getBoundingClientRect();
    app.openMenu(r.left + r.width / 3, r.top + r.height / 4);
  });
  $("#examples").addEventListener("change", async (e) => {
    const [source, ...rest] = e.target.value.split(":");
    e.target.value = "";
    if (!source) return;
    const name = rest.join(":");
    try {
      const data = await api.workflow(source, name);
      if (source === "user") open(data, name, name);
      else open(data, name.split("/").pop());
    } catch (err) {
      toast(err.message, "error");
    }
  });
}

/** Fill the Examples select with the server's examples and the workflows saved in its user folder. */
async function loadExamples() {
  const select = $("#examples");
  try {
    const { workflows } = await api.workflows();
    select.replaceChildren(select.options[0]);
    for (const w of workflows) select.append(new Option(`${w.source === "repo" ? "Example" : "Saved"}: ${w.name}`, `${w.source}:${w.name}`));
  } catch {
    select.disabled = true;
  }
}

function toast(text, kind = "info") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("data-testid", "toast");
  el.textContent = text;
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

function setStatus(text, kind = "") {
  const el = $("#status");
  el.textContent = text;
  el.dataset.kind = kind;
}

function sessionId() {
  let id = sessionStorage.getItem("graphflow.client");
  if (!id) {
    id = crypto.randomUUID?.() ?? String(Math.random()).slice(2);
    sessionStorage.setItem("graphflow.client", id);
  }
  return id;
}

start();
