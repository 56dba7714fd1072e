// The picture viewer: outputs at a useful size, zoom and pan, previous/next, download, before/after compare.

const MIN_SCALE = 0.05;
const MAX_SCALE = 64;
const STEP = 1.25; // one press of + or -
const PIXELATED_ABOVE = 2; // scale beyond which pixels are drawn as squares rather than blurred

/** Wire this concern into the editor: `app.openViewer(images, index, {compareWith})` shows pictures in the viewer,
 * and clicking a node's output picture opens it there. */
export function installViewer(app) {
  const viewer = new Viewer(app);
  app.openViewer = (images, index = 0, options = {}) => viewer.open(images, index, options);
  openNodePictures(app);
}

/** A modal dialog showing one picture of a list; items are `{url, before}` (`before`: the input picture's URL). */
class Viewer {
  constructor(app) {
    this.app = app;
    this.items = [];
    this.index = 0;
    this.view = { scale: 1, x: 0, y: 0 };
    this.returnFocus = null;
    this.build();
  }

  build() {
    const button = (role, text, label) => {
      const b = h("button", { type: "button", class: `viewer-${role}`, "data-testid": `viewer-${role}`, "data-action": role, title: label }, text);
      if (label !== text) b.setAttribute("aria-label", label);
      return b;
    };
    this.name = h("span", { class: "viewer-name", "data-testid": "viewer-name" });
    this.info = h("span", { class: "viewer-info", "data-testid": "viewer-info" });
    this.prev = button("prev", "‹", "Previous picture (←)");
    this.count = h("span", { class: "viewer-count", "data-testid": "viewer-count" });
    this.next = button("next", "›", "Next picture (→)");
    this.editMask = button("edit-mask", "Edit mask", "Edit mask");
    this.download = h("a", { class: "viewer-download", "data-testid": "viewer-download", download: "" }, "Download");
    const bar = h("div", { class: "viewer-bar" },
      this.name, this.info, h("span", { class: "viewer-gap" }), this.prev, this.count, this.next,
      button("zoom-out", "−", "Zoom out (-)"), button("zoom-in", "+", "Zoom in (+)"),
      button("actual-size", "1:1", "Actual size (1)"), button("fit", "Fit", "Fit to the window (0)"),
      this.editMask, this.download, button("close", "×", "Close (Esc)"));
    this.before = h("img", { class: "viewer-before", "data-testid": "viewer-before", alt: "", draggable: "false" });
    this.image = h("img", { class: "viewer-image", "data-testid": "viewer-image", alt: "", draggable: "false" });
    this.frame = h("div", { class: "viewer-frame" }, this.before, this.image, h("div", { class: "viewer-divider" }));
    this.stage = h("div", { class: "viewer-stage", "data-testid": "viewer-stage" }, this.frame);
    this.wipe = h("input", {
      type: "range", min: "0", max: "100", value: "50", "data-testid": "viewer-compare",
      "aria-label": "Before and after: the input picture left of the line, the result right of it",
    });
    this.compare = h("div", { class: "viewer-compare" }, h("span", {}, "input"), this.wipe, h("span", {}, "result"));
    this.dialog = h("dialog", { class: "viewer", "aria-modal": "true", "aria-label": "Picture viewer", "data-testid": "viewer" }, bar, this.stage, this.compare);
    document.body.append(this.dialog);

    const actions = {
      prev: () => this.show(this.index - 1), next: () => this.show(this.index + 1),
      "zoom-in": () => this.zoomCentre(STEP), "zoom-out": () => this.zoomCentre(1 / STEP),
      "actual-size": () => this.setScaleCentre(1), fit: () => this.fit(),
      "edit-mask": () => this.openPainter(), close: () => this.close(),
    };
    bar.addEventListener("click", (e) => actions[e.target.closest("button")?.dataset.action]?.());
    this.image.addEventListener("load", () => this.fit());
    this.wipe.addEventListener("input", () => this.showWipe());
    this.dialog.addEventListener("keydown", (e) => this.onKey(e));
    this.dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      this.close();
    });
    this.stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * 0.0015));
    }, { passive: false });
    this.stage.addEventListener("pointerdown", (e) => this.startPan(e));
    new ResizeObserver(() => this.dialog.open && this.fit()).observe(this.stage);
  }

  /** Show `images` (URLs or `{url, before}`) from `index`; `compareWith` is the input picture for those without one. */
  open(images, index = 0, { compareWith = null } = {}) {
    this.items = images.map((item) => (typeof item === "string" ? { url: item } : item)).map((item) => ({ before: compareWith, ...item }));
    if (!this.items.length) return;
    if (!this.dialog.open) {
      this.returnFocus = document.activeElement;
      this.dialog.showModal();
    }
    this.show(index);
    this.dialog.querySelector(".viewer-close").focus();
  }

  close() {
    this.dialog.close();
    this.image.removeAttribute("src");
    if (this.returnFocus?.isConnected) this.returnFocus.focus();
  }

  show(index) {
    const n = this.items.length;
    this.index = (index + n) % n;
    const { url, before } = this.items[this.index];
    const ref = imageRef(url);
    this.name.textContent = ref.filename;
    this.image.alt = ref.filename;
    this.count.textContent = `${this.index + 1} / ${n}`;
    for (const el of [this.prev, this.count, this.next]) el.hidden = n < 2;
    this.download.href = url;
    this.download.download = ref.filename;
    this.editMask.hidden = typeof this.app.openPainter !== "function";
    this.compare.hidden = !before;
    this.frame.classList.toggle("comparing", Boolean(before));
    if (before) this.before.src = before;
    else this.before.removeAttribute("src");
    this.wipe.value = "50";
    this.showWipe();
    if (this.image.getAttribute("src") !== url) this.image.src = url;
    else this.fit();
  }

  showWipe() {
    this.frame.style.setProperty("--wipe", `${this.wipe.value}%`);
  }

  size() {
    return [this.image.naturalWidth || 1, this.image.naturalHeight || 1];
  }

  /** Scale the picture to fill the stage (small pictures are enlarged) and centre it. */
  fit() {
    const [w, h] = this.size();
    const r = this.stage.getBoundingClientRect();
    const scale = clamp(Math.min((r.width - 32) / w, (r.height - 32) / h));
    this.place(scale, (r.width - w * scale) / 2, (r.height - h * scale) / 2);
  }

  setScaleCentre(scale) {
    this.zoomCentre(scale / this.view.scale);
  }

  zoomCentre(factor) {
    const r = this.stage.getBoundingClientRect();
    this.zoomAt(r.left + r.width / 2, r.top + r.height / 2, factor);
  }

  /** Zoom by `factor` keeping the picture's point under the client position where it is. */
  zoomAt(clientX, clientY, factor) {
    const r = this.stage.getBoundingClientRect();
    const [px, py] = [clientX - r.left, clientY - r.top];
    const { scale, x, y } = this.view;
    const next = clamp(scale * factor);
    this.place(next, px - ((px - x) * next) / scale, py - ((py - y) * next) / scale);
  }

  place(scale, x, y) {
    this.view = { scale, x, y };
    const [w, h] = this.size();
    Object.assign(this.frame.style, { left: `${x}px`, top: `${y}px`, width: `${w * scale}px`, height: `${h * scale}px` });
    this.frame.classList.toggle("pixelated", scale > PIXELATED_ABOVE);
    this.info.textContent = this.image.naturalWidth ? `${w} × ${h} px · ${Math.round(scale * 100)}%` : "";
  }

  startPan(e) {
    if (e.button !== 0) return;
    const { scale, x, y } = this.view;
    const [sx, sy] = [e.clientX, e.clientY];
    this.stage.setPointerCapture(e.pointerId);
    this.stage.classList.add("panning");
    const move = (m) => this.place(scale, x + m.clientX - sx, y + m.clientY - sy);
    const up = () => {
      this.stage.removeEventListener("pointermove", move);
      this.stage.removeEventListener("pointerup", up);
      this.stage.classList.remove("panning");
    };
    this.stage.addEventListener("pointermove", move);
    this.stage.addEventListener("pointerup", up);
  }

  onKey(e) {
    e.stopPropagation(); // the editor's shortcuts (Delete, F, ...) do not act behind the dialog
    if (e.target === this.wipe && (e.key === "ArrowLeft" || e.key === "ArrowRight")) return;
    const keys = {
      Escape: () => this.close(), ArrowLeft: () => this.show(this.index - 1), ArrowRight: () => this.show(this.index + 1),
      "+": () => this.zoomCentre(STEP), "=": () => this.zoomCentre(STEP), "-": () => this.zoomCentre(1 / STEP),
      0: () => this.fit(), 1: () => this.setScaleCentre(1), Tab: () => this.trapFocus(e),
    };
    const run = keys[e.key];
    if (!run || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key !== "Tab") e.preventDefault();
    run();
  }

  /** Keep Tab inside the dialog: past the last control it comes back to the first, and the other way round. */
  trapFocus(e) {
    const focusable = [...this.dialog.querySelectorAll("button, a[href], input")].filter((el) => !el.closest("[hidden]"));
    const [first, last] = [focusable[0], focusable.at(-1)];
    if (e.shiftKey && document.activeElement === first) last.focus();
    else if (!e.shiftKey && document.activeElement === last) first.focus();
    else return;
    e.preventDefault();
  }

  openPainter() {
    const ref = imageRef(this.items[this.index].url);
    this.close();
    this.app.openPainter(ref, { mode: "mask" });
  }
}

/** Clicking a node's output picture (not dragging the node by it) opens the node's pictures in the viewer. */
function openNodePictures(app) {
  const layer = app.canvas.nodeLayer;
  let down = null;
  layer.addEventListener("pointerdown", (e) => (down = [e.clientX, e.clientY]));
  layer.addEventListener("click", (e) => {
    const picture = e.target.closest(".node-image");
    if (!picture || !down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
    const nodeEl = picture.closest(".node");
    const pictures = [...nodeEl.querySelectorAll(".node-image")];
    const urls = pictures.map((img) => img.getAttribute("src"));
    app.openViewer(urls, pictures.indexOf(picture), { compareWith: inputPicture(app, nodeEl.dataset.nodeId) });
  });
}

/** The URL of the uploaded picture the nearest upstream image-loading node reads, or null. */
function inputPicture(app, nodeId) {
  const graph = app.graph;
  const seen = new Set();
  const queue = [nodeId];
  while (queue.length) {
    const node = graph.nodes.get(queue.shift());
    if (!node || seen.has(node.id)) continue;
    seen.add(node.id);
    const upload = graph.schemaOf(node)?.inputs.find((i) => i.widget === "image_upload" && node.values[i.name]);
    if (upload) return app.viewUrl({ filename: node.values[upload.name], subfolder: "", type: "input" });
    queue.push(...Object.values(node.links).map((link) => link.node));
  }
  return null;
}

/** The `{filename, subfolder, type}` a view URL shows (the file name from its path for other URLs). */
function imageRef(url) {
  const parsed = new URL(url, location.href);
  const filename = parsed.searchParams.get("filename") ?? (parsed.pathname.split("/").pop() || "picture.png");
  return { filename, subfolder: parsed.searchParams.get("subfolder") ?? "", type: parsed.searchParams.get("type") ?? "output" };
}

function clamp(scale) {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}
