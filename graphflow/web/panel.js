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

  /** One row per finished run (started, duration, prompt, seed, first picture) and the gallery of every picture. */
  drawHistory(items) {
    const rows = [];
    const gallery = [];
    for (const record of items) {
      const pictures = recordPictures(record);
      rows.push(this.historyRow(record, pictures));
      gallery.push(...pictures);
    }
    if (!rows.length) rows.push(note("No finished runs yet."));
    this.historyEl.replaceChildren(...rows);
    this.drawGallery(gallery);
  }

  /** A row that opens the run's workflow when clicked; its thumbnail button opens the run's pictures instead. */
  historyRow(record, pictures) {
    const row = el("div", `history-item ${record.status}`);
    row.setAttribute("data-testid", `history-item-${record.prompt_id}`);
    if (pictures.length) {
      const view = el("button", "history-view");
      view.type = "button";
      view.title = "View the pictures";
      view.setAttribute("aria-label", `View the pictures of run #${record.number}`);
      view.setAttribute("data-testid", `history-view-${record.prompt_id}`);
      view.append(image(pictures[0].url, "thumb"));
      view.addEventListener("click", (e) => {
        e.stopPropagation();
        this.app.openViewer(pictures, 0);
      });
      row.append(view);
    }
    const open = el("button", "history-open");
    open.type = "button";
    open.title = "Open this run's workflow in a new tab";
    open.setAttribute("data-testid", `history-open-${record.prompt_id}`);
    const head = el("span", "history-line");
    head.append(el("span", "num", `#${record.number}`), el("span", "status", record.status));
    if (record.started_at && record.finished_at) head.append(el("span", "history-duration", duration(record.finished_at - record.started_at)));
    const { prompt, seed } = record.summary ?? {};
    const details = el("span", "history-line");
    if (record.started_at) details.append(startedAt(record.started_at));
    if (seed != null) details.append(el("span", "history-seed", `seed ${seed}`));
    open.append(head);
    if (prompt) open.append(Object.assign(el("span", "history-prompt", prompt), { title: prompt }));
    open.append(details);
    for (const ui of Object.values(record.outputs ?? {})) {
      for (const text of readOutputs(ui, api.viewUrl).texts) open.append(el("span", "history-text", text.length > 40 ? `${text.slice(0, 40)}…` : text));
    }
    row.append(open);
    if (record.error) row.append(el("div", "history-error", `${record.error.node_id ? `${record.error.node_id}: ` : ""}${record.error.message}`));
    row.addEventListener("click", () => this.app.openRecord(record.prompt_id));
    return row;
  }

  drawGallery(items) {
    const cells = items.map((item, index) => {
      const figure = el("figure", "gallery-item");
      figure.setAttribute("data-testid", "gallery-item");
      const view = el("button", "gallery-view");
      view.type = "button";
      view.setAttribute("aria-label", `View ${item.caption}`);
      view.append(image(item.url, ""));
      view.addEventListener("click", () => this.app.openViewer(items, index));
      figure.append(view, el("figcaption", "", item.caption));
      return figure;
    });
    this.galleryEl.replaceChildren(...(cells.length ? cells : [note("Images your runs save appear here.")]));
  }
}

/** A finished run's pictures for the viewer: `{url, before, caption}`, `before` being the input picture it loaded. */
function recordPictures(record) {
  const input = record.summary?.input_images?.[0];
  const before = input ? api.viewUrl({ filename: input, subfolder: "", type: "input" }) : null;
  return Object.entries(record.outputs ?? {}).flatMap(([nodeId, ui]) =>
    readOutputs(ui, api.viewUrl).images.map((url) => ({ url, before, caption: `#${record.number} · ${nodeId}` })));
}

/** When a run started, in local time (with the date unless it was today). */
function startedAt(seconds) {
  const date = new Date(seconds * 1000);
  const time = el("time", "history-when", date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString());
  time.dateTime = date.toISOString();
  return time;
}

function duration(seconds) {
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
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
