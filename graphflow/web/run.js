// Running workflows: queueing, then showing websocket events on the nodes, the progress bar and panels.

import { ApiError, api } from "./api.js";
import { decorateNodes } from "./nodedecor.js";
import { readOutputs } from "./outputs.js";
import { SeedControl } from "./seedcontrol.js";

const EDITS = new Set(["add", "remove", "link", "unlink", "port", "load", "paste", "value", "mode"]); // what makes a run differ

/** Follows runs from the websocket and reflects them on the canvas; `app` gives toast/panel hooks. Nodes that came
 * from the cache keep a "cached" badge after the run, until the graph is edited. */
export class RunView {
  constructor(canvas, app) {
    this.canvas = canvas;
    this.app = app;
    this.ours = new Set();
    this.run = null; // { prompt_id, total, done: Set, node }
    this.previewUrl = null;
    this.bar = document.getElementById("overall-progress");
    this.seeds = new SeedControl(app);
    decorateNodes(canvas, (el) => showCached(el, canvas.runtime.get(el.dataset.nodeId)?.cached));
    canvas.graph.addEventListener("change", (e) => {
      if (EDITS.has(e.detail.kind) && !this.seeds.advancing) this.clearCached();
    });
  }

  /** Validate-and-queue the current graph; issues are drawn on the nodes at fault. */
  async queue() {
    this.canvas.clearRuntime(["errors"]);
    this.app.setStatus("");
    try {
      const reply = await api.queuePrompt(this.canvas.graph.toWorkflow(), this.app.clientId);
      this.ours.add(reply.prompt_id);
      this.seeds.advance();
      this.app.toast(`Queued #${reply.number}${reply.position ? ` (position ${reply.position + 1})` : ""}`);
      this.app.refreshPanels();
      return reply;
    } catch (err) {
      if (err instanceof ApiError && err.issues.length) this.showIssues(err.issues);
      else this.app.toast(err.message, "error");
      return null;
    }
  }

  /** Put validation issues on the nodes they name; issues without a node go to the status line. */
  showIssues(issues) {
    const byNode = new Map();
    const general = [];
    for (const issue of issues) {
      if (issue.node_id && this.canvas.graph.nodes.has(issue.node_id)) {
        byNode.set(issue.node_id, [...(byNode.get(issue.node_id) ?? []), issue]);
      } else general.push(issue.node_id ? `${issue.node_id}: ${issue.message}` : issue.message);
    }
    for (const [id, list] of byNode) this.canvas.setRuntime(id, { errors: list });
    const count = issues.length;
    this.app.setStatus(`Cannot run: ${count} problem${count > 1 ? "s" : ""}. ${general.join(" ")}`.trim(), "error");
  }

  mine(promptId, clientId = null) {
    return this.ours.has(promptId) || (clientId !== null && clientId === this.app.clientId);
  }

  /** Handle one websocket event. */
  onEvent(type, data) {
    if (type === "queue") return this.app.setQueueCount(data.pending_count, data.running);
    if (type === "state") {
      this.app.setQueueCount(data.queue?.pending_count ?? 0, data.queue?.running ?? null);
      if (data.running && this.mine(data.running.prompt_id, data.running.client_id)) this.resume(data.running);
      return;
    }
    if (type === "error") return this.app.toast(data.message, "error");
    if (type === "run_started") {
      if (!this.mine(data.prompt_id, data.client_id)) return;
      this.ours.add(data.prompt_id);
      this.canvas.clearRuntime(["errors", "images", "texts", "progress", "running", "preview"]);
      this.clearCached();
      this.run = { prompt_id: data.prompt_id, total: data.nodes.length, done: new Set(), node: null };
      return this.drawOverall();
    }
    if (!this.run || data.prompt_id !== this.run.prompt_id) {
      if (type.startsWith("run_")) this.app.refreshPanels();
      return;
    }
    this[`on_${type}`]?.(data);
  }

  resume(state) {
    this.ours.add(state.prompt_id);
    this.run = { prompt_id: state.prompt_id, total: state.nodes.length, done: new Set([...state.cached, ...state.executed]), node: null };
    if (state.node_id) this.on_node_started({ node_id: state.node_id });
    if (state.progress) this.on_progress(state.progress);
    this.drawOverall();
  }

  on_nodes_cached(data) {
    for (const id of data.nodes) {
      this.run.done.add(id);
      this.canvas.setRuntime(id, { cached: true });
      showCached(this.canvas.nodeEl(id), true);
    }
    this.drawOverall();
  }

  on_node_started(data) {
    if (this.run.node) this.canvas.setRuntime(this.run.node, { running: false, progress: null });
    this.run.node = data.node_id;
    this.canvas.setRuntime(data.node_id, { running: true, progress: null, preview: null });
    this.drawOverall();
  }

  on_progress(data) {
    this.canvas.setRuntime(data.node_id, { progress: { value: data.value, max: data.max } });
    this.drawOverall(data.value / Math.max(1, data.max));
  }

  on_node_finished(data) {
    this.run.done.add(data.node_id);
    const shown = readOutputs(data.outputs, api.viewUrl);
    this.canvas.setRuntime(data.node_id, { running: false, progress: null, preview: null, ...shown });
    if (this.run.node === data.node_id) this.run.node = null;
    this.drawOverall();
  }

  on_run_finished(data) {
    for (const [id, ui] of Object.entries(data.outputs ?? {})) this.canvas.setRuntime(id, readOutputs(ui, api.viewUrl));
    this.end(`Finished in ${data.seconds?.toFixed(1) ?? "?"} s`, "ok");
  }

  on_run_failed(data) {
    if (data.issues?.length) this.showIssues(data.issues);
    const err = data.error;
    if (err?.node_id) this.canvas.setRuntime(err.node_id, { errors: [{ input: null, message: err.message }] });
    this.end(`Run failed${err?.node_id ? ` at node ${err.node_id}` : ""}: ${err?.message ?? "unknown error"}`, "error");
  }

  on_run_interrupted(data) {
    this.end(`Run stopped${data.node_id ? ` at node ${data.node_id}` : ""}`, "warn");
  }

  end(message, kind) {
    if (this.run.node) this.canvas.setRuntime(this.run.node, { running: false, progress: null });
    this.canvas.clearRuntime(["running", "progress"]);
    this.run = null;
    this.drawOverall();
    this.app.setStatus(message, kind);
    this.app.refreshPanels();
  }

  clearCached() {
    this.canvas.clearRuntime(["cached"]);
    for (const el of this.canvas.nodeLayer.querySelectorAll(".cached-badge")) el.remove();
  }

  /** A preview frame from the sampler: shown inside the node that sent it. */
  onPreview(header, blob) {
    if (!this.run || header.prompt_id !== this.run.prompt_id) return;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(blob);
    this.canvas.setRuntime(header.node_id, { preview: this.previewUrl, progress: { value: header.value, max: header.max } });
  }

  drawOverall(partial = 0) {
    const el = this.bar;
    if (!this.run) {
      el.dataset.state = "idle";
      el.style.setProperty("--done", "0%");
      el.title = "";
      return;
    }
    const done = this.run.done.size + (this.run.node ? partial : 0);
    const pct = Math.min(100, (100 * done) / Math.max(1, this.run.total));
    el.dataset.state = "running";
    el.style.setProperty("--done", `${pct.toFixed(1)}%`);
    el.title = `${this.run.done.size} of ${this.run.total} nodes`;
  }
}

/** Add or remove a node element's "cached" badge. */
function showCached(el, cached) {
  const badge = el?.querySelector(".cached-badge");
  if (!el || Boolean(badge) === Boolean(cached)) return;
  if (badge) return badge.remove();
  const mark = document.createElement("span");
  mark.className = "cached-badge";
  mark.textContent = "cached";
  mark.title = "from the cache";
  mark.setAttribute("data-testid", `cached-${el.dataset.nodeId}`);
  const header = el.querySelector(".node-header");
  header?.insertBefore(mark, header.querySelector(".node-id"));
}
