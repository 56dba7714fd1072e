// The side panel: queue (running + pending), history of finished runs, and the image gallery.

import { api } from "./api.js";
import { readOutputs } from "./outputs.js";

/** Fills the side panel from the server; `app.openRecord(id)` opens a past run's workflow. */
export class Panel {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.queueEl = root.querySelector("#queue-list");
    this.workersEl = root.querySelector("#worker-list");
    this.historyEl = root.querySelector("#history-list");
    this.galleryEl = root.querySelector("#gallery");
    for (const tab of root.querySelectorAll("[data-tab]")) tab.addEventListener("click", () => this.show(tab.dataset.tab));
    root.querySelector("#interrupt").addEventListener("click", () => api.interrupt().catch((e) => app.toast(e.message, "error")));
    root.querySelector("#clear-queue").addEventListener("click", () => api.clearQueue().then(() => this.refresh()));
    this.pending = null;
  }

  show(name) {
    for (const tab of this.root.querySelectorAll("[data-tab]")) tab.classList.toggle("active", tab.dataset.tab === name);
    for (const page of this.root.querySelectorAll("[data-page]")) page.hidden = page.dataset.page !== name;
  }

  /** Reload queue and history (coalesced when called in bursts). */
  refresh() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.load().catch(() => {}), 120);
  }

  async load() {
    const [queue, history, workers] = await Promise.all([api.queue(), api.history(40), api.workers()]);
    this.drawQueue(queue);
    this.drawHistory(history.items);
    this.drawWorkers(workers.workers);
  }

  drawQueue(queue) {
    const rows = [];
    for (const item of queue.running_all ?? (queue.running ? [queue.running] : [])) rows.push(this.queueRow(item, "running"));
    for (const item of queue.pending) rows.push(this.queueRow(item, "pending"));
    if (!rows.length) rows.push(note("The queue is empty. Press Queue (Ctrl+Enter) to run the workflow."));
    this.queueEl.replaceChildren(...rows);
  }

  queueRow(item, state) {
    const row = el("div", `queue-item ${state}`);
    row.setAttribute("data-testid", `queue-item-${item.prompt_id}`);
    row.append(el("span", "num", `#${item.number}`), el("span", "status", state));
    if (state === "pending") {
      const cancel = el("button", "small", "Cancel");
      cancel.addEventListener("click", () => api.cancel(item.prompt_id).then(() => this.refresh()));
      row.append(cancel);
    }
    return row;
  }

  /** One row per worker: name, where it runs, its state, the models it holds and the prompt it runs. */
  drawWorkers(workers) {
    const rows = workers.map((worker) => {
      const row = el("div", `worker-item ${worker.state}`);
      row.setAttribute("data-testid", `worker-${worker.name}`);
      row.append(el("span", "num", worker.name), el("span", "status", worker.state), el("span", "where", `${worker.host} · ${worker.device}`));
      if (worker.prompt_id) row.append(el("span", "prompt", `running ${worker.prompt_id.slice(0, 8)}`));
      row.append(el("div", "models", worker.models.length ? worker.models.join(", ") : "no models loaded"));
      return row;
    });
    this.workersEl.replaceChildren(...(rows.length ? rows : [note("No workers yet.")]));
  }

  drawHistory(items) {
    const rows = [];
    const gallery = [];
    for (const record of items) {
      const row = el("div", `history-item ${record.status}`);
      row.setAttribute("data-testid", `history-item-${record.prompt_id}`);
      const seconds = record.finished_at && record.started_at ? `${(record.finished_at - record.started_at).toFixed(1)} s` : "";
      row.append(el("span", "num", `#${record.number}`), el("span", "status", record.status), el("span", "time", seconds));
      const thumbs = el("div", "thumbs");
      for (const [nodeId, ui] of Object.entries(record.outputs ?? {})) {
        const { images, texts } = readOutputs(ui, api.viewUrl);
        for (const url of images) {
          thumbs.append(image(url, "thumb"));
          gallery.push({ url, caption: `#${record.number} · ${nodeId}` });
        }
        for (const text of texts) thumbs.append(el("span", "history-text", text.length > 40 ? `${text.slice(0, 40)}…` : text));
      }
      row.append(thumbs);
      if (record.error) row.append(el("div", "history-error", `${record.error.node_id ? `${record.error.node_id}: ` : ""}${record.error.message}`));
      const open = el("button", "small", "Open");
      open.title = "Open this run's workflow";
      open.addEventListener("click", () => this.app.openRecord(record.prompt_id));
      row.append(open);
      rows.push(row);
    }
    if (!rows.length) rows.push(note("No finished runs yet."));
    this.historyEl.replaceChildren(...rows);
    this.drawGallery(gallery);
  }

  drawGallery(items) {
    const cells = items.map(({ url, caption }) => {
      const figure = el("figure", "gallery-item");
      figure.setAttribute("data-testid", "gallery-item");
      const img = image(url, "");
      img.addEventListener("click", () => this.app.lightbox(url));
      figure.append(img, el("figcaption", "", caption));
      return figure;
    });
    this.galleryEl.replaceChildren(...(cells.length ? cells : [note("Images your runs save appear here.")]));
  }
}

function image(src, cls) {
  const img = document.createElement("img");
  img.src = src;
  img.className = cls;
  img.alt = "";
  img.loading = "lazy";
  return img;
}

function note(text) {
  return el("div", "panel-note", text);
}

function el(tag, cls, text = null) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== null) node.textContent = text;
  return node;
}
