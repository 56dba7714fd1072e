// The painter dialog: a picture (or blank sheet) under a paint layer, tools on the left, the sheet to paint on the
// right with zoom and pan; saves a mask onto the picture's alpha or a sketch into the input folder.

import { addLoadImage } from "./imageinput.js";
import { PaintLayers } from "./paintlayer.js";
import { saveMask, saveSketch } from "./paintupload.js";

const MASK_COLOUR = "#ff2e88";
const PALETTE = ["#000000", "#ffffff", "#808080", "#e53935", "#fb8c00", "#fdd835", "#43a047", "#1e88e5", "#8e24aa"];
/** The painter's own keys, listed in its hint line (it owns the keyboard while open, so they shadow nothing). */
export const PAINTER_KEYS = {
  b: (p) => p.setTool("brush"),
  e: (p) => p.setTool("eraser"),
  g: (p) => p.mode === "sketch" && p.setTool("fill"),
  i: (p) => p.invert(),
  "[": (p) => p.resize(-1),
  "]": (p) => p.resize(1),
  "0": (p) => p.fit(),
  "ctrl+z": (p) => p.undo(),
  escape: (p) => p.close(),
};
const KEY_HINT = "Keys: B brush · E eraser · G fill · I invert · [ ] size · 0 fit · Ctrl+Z undo · Esc close";

/** The painter dialog, built once and hidden; `open` shows a picture in it. */
export class Painter {
  constructor(app) {
    this.app = app;
    this.tool = "brush";
    this.view = { x: 0, y: 0, zoom: 1 };
    this.build();
  }

  get isOpen() {
    return !this.root.hidden;
  }

  build() {
    const root = el("div", "painter");
    root.hidden = true;
    root.tabIndex = -1;
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "true");
    root.setAttribute("aria-labelledby", "painter-title");
    root.setAttribute("data-testid", "painter");
    const side = el("div", "painter-side");
    this.title = el("h2", "painter-title");
    this.title.id = "painter-title";
    this.title.setAttribute("data-testid", "painter-title");

    this.tools = Object.fromEntries(
      [["brush", "Brush"], ["eraser", "Eraser"], ["fill", "Fill"]].map(([tool, text]) => {
        const b = button(text, `painter-${tool}`, () => this.setTool(tool));
        if (tool === "fill") b.classList.add("sketch-only");
        return [tool, b];
      }),
    );
    this.size = range("Size", "painter-size", 1, 64, 8);
    this.hardness = range("Hardness %", "painter-hardness", 0, 100, 100);
    this.opacity = range("Opacity %", "painter-opacity", 5, 100, 100);
    this.size.input.addEventListener("input", () => this.showCursor());

    this.colour = document.createElement("input");
    this.colour.type = "color";
    this.colour.value = "#e53935";
    this.colour.setAttribute("data-testid", "painter-colour");
    const colourField = labelled("Colour", this.colour);
    const swatches = el("div", "painter-palette");
    for (const colour of PALETTE) {
      const swatch = button("", `painter-swatch-${colour.slice(1)}`, () => (this.colour.value = colour));
      swatch.className = "painter-swatch";
      swatch.style.background = colour;
      swatch.setAttribute("aria-label", `Colour ${colour}`);
      swatches.append(swatch);
    }
    const colours = el("div", "painter-group sketch-only");
    colours.append(colourField, swatches);

    this.blankWidth = number("Width", "painter-width", 512);
    this.blankHeight = number("Height", "painter-height", 512);
    const blank = el("div", "painter-group sketch-only");
    const blankSize = el("div", "painter-row");
    blankSize.append(this.blankWidth.label, this.blankHeight.label);
    blank.append(blankSize, button("New blank canvas", "painter-new", () => this.newBlank()));

    const edits = el("div", "painter-row");
    const invert = button("Invert", "painter-invert", () => this.invert());
    invert.classList.add("mask-only");
    edits.append(
      invert,
      button("Clear", "painter-clear", () => this.clear()),
      button("Undo", "painter-undo", () => this.undo()),
    );

    this.zoomText = el("span", "painter-zoom");
    this.zoomText.setAttribute("data-testid", "painter-zoom");
    const zoom = el("div", "painter-row");
    zoom.append(
      button("−", "painter-zoom-out", () => this.zoomBy(1 / 1.25), "Zoom out"),
      button("Fit", "painter-zoom-fit", () => this.fit(), "Fit the picture"),
      button("+", "painter-zoom-in", () => this.zoomBy(1.25), "Zoom in"),
      this.zoomText,
    );

    const tools = el("div", "painter-row");
    tools.append(...Object.values(this.tools));
    this.saveButton = button("Save", "painter-save", () => this.save());
    this.saveButton.classList.add("primary");
    const end = el("div", "painter-row painter-end");
    end.append(button("Cancel", "painter-cancel", () => this.close()), this.saveButton);
    const hint = el("p", "painter-hint");
    hint.textContent = `Drag to paint · wheel to zoom · right or middle drag to pan. ${KEY_HINT}`;

    side.append(this.title, tools, this.size.label, this.hardness.label, this.opacity.label, colours, edits, blank, zoom, hint, end);

    this.stage = el("div", "painter-stage");
    this.stage.setAttribute("data-testid", "painter-stage");
    this.sheet = el("div", "painter-sheet");
    this.cursor = el("div", "painter-cursor");
    this.stage.append(this.sheet, this.cursor);
    root.append(side, this.stage);
    document.body.append(root);
    this.root = root;
    this.bindStage();
  }

  /** Open `ref` (or a blank sheet when null) in mode "mask" or "sketch". */
  async open(ref, { mode = ref ? "mask" : "sketch", onSave = null } = {}) {
    this.onSave = onSave;
    this.ref = ref;
    this.mode = ref ? mode : "sketch";
    let picture = null;
    if (ref) {
      try {
        const response = await fetch(this.app.viewUrl(ref));
        if (!response.ok) throw new Error(`cannot open ${ref.filename} (the server answered ${response.status})`);
        picture = await createImageBitmap(await response.blob(), { premultiplyAlpha: "none" });
      } catch (err) {
        this.app.toast(err.message, "error");
        return;
      }
    }
    this.returnFocus = document.activeElement;
    this.start(picture, picture?.width ?? this.blankWidth.input.valueAsNumber, picture?.height ?? this.blankHeight.input.valueAsNumber);
  }

  start(picture, width, height) {
    const layers = new PaintLayers(width, height);
    const base = layers.base.getContext("2d", { willReadFrequently: true });
    if (picture) {
      base.drawImage(picture, 0, 0);
      if (this.mode === "mask") {
        layers.loadMask(picture, MASK_COLOUR);
        const opaque = base.getImageData(0, 0, width, height);
        for (let i = 3; i < opaque.data.length; i += 4) opaque.data[i] = 255;
        base.putImageData(opaque, 0, 0);
      }
    } else {
      base.fillStyle = "#ffffff";
      base.fillRect(0, 0, width, height);
    }
    this.layers = layers;
    layers.base.className = "painter-base";
    layers.layer.className = "painter-layer";
    layers.layer.setAttribute("data-testid", "painter-layer");
    this.sheet.replaceChildren(layers.base, layers.layer);
    this.sheet.style.width = `${width}px`;
    this.sheet.style.height = `${height}px`;
    const longest = Math.max(width, height);
    this.size.input.max = Math.max(2, Math.round(longest / 2));
    this.size.input.value = Math.max(1, Math.round(Math.min(width, height) / 8));
    this.size.show();
    this.root.dataset.mode = this.mode;
    const what = this.ref ? this.ref.filename : `blank ${width}×${height}`;
    this.title.textContent = `${this.mode === "mask" ? "Mask" : "Sketch"} · ${what}`;
    this.root.setAttribute("aria-label", this.title.textContent);
    this.setTool(this.tool === "fill" && this.mode === "mask" ? "brush" : this.tool);
    this.root.hidden = false;
    this.root.focus();
    this.fit();
  }

  newBlank() {
    const [w, h] = [this.blankWidth, this.blankHeight].map((f) => Math.round(f.input.valueAsNumber));
    if (!(w >= 8 && h >= 8 && w <= 4096 && h <= 4096)) return this.app.toast("A blank canvas is 8 to 4096 pixels a side", "error");
    this.ref = null;
    this.mode = "sketch";
    this.start(null, w, h);
  }

  close() {
    this.root.hidden = true;
    this.returnFocus?.focus?.();
  }

  setTool(tool) {
    this.tool = tool;
    for (const [name, b] of Object.entries(this.tools)) b.setAttribute("aria-pressed", String(name === tool));
    this.stage.dataset.tool = tool;
  }

  brush() {
    return {
      size: this.size.input.valueAsNumber,
      hardness: this.hardness.input.valueAsNumber / 100,
      opacity: this.opacity.input.valueAsNumber / 100,
      colour: this.mode === "mask" ? MASK_COLOUR : this.colour.value,
      erase: this.tool === "eraser",
    };
  }

  resize(step) {
    const size = this.size.input.valueAsNumber;
    this.size.input.value = Math.max(1, size + step * Math.max(1, Math.round(size * 0.2)));
    this.size.show();
    this.showCursor();
  }

  invert() {
    if (this.mode === "mask") this.layers.invert(MASK_COLOUR);
  }

  clear() {
    this.layers.clear();
  }

  undo() {
    if (!this.layers.undo()) this.app.toast("Nothing to undo in the painter");
  }

  async save() {
    this.saveButton.disabled = true;
    try {
      const name = this.mode === "mask"
        ? await saveMask(this.layers.maskPicture(), this.ref)
        : await saveSketch(this.layers.flattened(), this.ref);
      this.close();
      if (this.onSave) this.onSave(name);
      else addLoadImage(this.app, name, this.app.pointerWorld());
      this.app.toast(`Saved ${name} in the input folder`);
    } catch (err) {
      this.app.toast(err.message, "error");
    } finally {
      this.saveButton.disabled = false;
    }
  }

  // --- view: zoom and pan of the sheet inside the stage

  setView(x, y, zoom) {
    this.view = { x, y, zoom: Math.min(64, Math.max(0.05, zoom)) };
    this.sheet.style.transform = `translate(${this.view.x}px, ${this.view.y}px) scale(${this.view.zoom})`;
    this.zoomText.textContent = `${Math.round(this.view.zoom * 100)}%`;
    this.showCursor();
  }

  fit() {
    const r = this.stage.getBoundingClientRect();
    const { width, height } = this.layers;
    const zoom = Math.min((r.width - 40) / width, (r.height - 40) / height);
    this.setView((r.width - width * zoom) / 2, (r.height - height * zoom) / 2, zoom);
  }

  zoomBy(factor, clientX = null, clientY = null) {
    const r = this.stage.getBoundingClientRect();
    const [cx, cy] = clientX === null ? [r.left + r.width / 2, r.top + r.height / 2] : [clientX, clientY];
    const [px, py] = this.toPicture(cx, cy);
    const zoom = Math.min(64, Math.max(0.05, this.view.zoom * factor));
    this.setView(cx - r.left - px * zoom, cy - r.top - py * zoom, zoom);
  }

  /** Picture pixel coordinates of a client point. */
  toPicture(clientX, clientY) {
    const r = this.stage.getBoundingClientRect();
    return [(clientX - r.left - this.view.x) / this.view.zoom, (clientY - r.top - this.view.y) / this.view.zoom];
  }

  showCursor(clientX = this.pointer?.[0], clientY = this.pointer?.[1]) {
    if (clientX === undefined) return;
    this.pointer = [clientX, clientY];
    const r = this.stage.getBoundingClientRect();
    const d = this.size.input.valueAsNumber * this.view.zoom;
    Object.assign(this.cursor.style, { width: `${d}px`, height: `${d}px`, left: `${clientX - r.left - d / 2}px`, top: `${clientY - r.top - d / 2}px` });
  }

  bindStage() {
    const stage = this.stage;
    stage.addEventListener("contextmenu", (e) => e.preventDefault());
    stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
    }, { passive: false });
    stage.addEventListener("pointermove", (e) => {
      this.showCursor(e.clientX, e.clientY);
      if (this.pan) {
        const [x, y, sx, sy] = this.pan;
        this.setView(x + e.clientX - sx, y + e.clientY - sy, this.view.zoom);
      } else if (this.painting) this.layers.to(...this.toPicture(e.clientX, e.clientY));
    });
    stage.addEventListener("pointerdown", (e) => {
      stage.setPointerCapture(e.pointerId);
      if (e.button === 1 || e.button === 2) {
        this.pan = [this.view.x, this.view.y, e.clientX, e.clientY];
        stage.classList.add("panning");
      } else if (e.button === 0 && this.tool === "fill") {
        this.layers.fill(this.brush(), ...this.toPicture(e.clientX, e.clientY));
      } else if (e.button === 0) {
        this.painting = true;
        this.layers.begin(this.brush(), ...this.toPicture(e.clientX, e.clientY));
      }
    });
    const stop = () => {
      if (this.painting) this.layers.end();
      this.painting = false;
      this.pan = null;
      stage.classList.remove("panning");
    };
    stage.addEventListener("pointerup", stop);
    stage.addEventListener("pointercancel", stop);
    stage.addEventListener("pointerleave", () => (this.cursor.hidden = true));
    stage.addEventListener("pointerenter", () => (this.cursor.hidden = false));
  }
}

function el(tag, cls) {
  const node = document.createElement(tag);
  node.className = cls;
  return node;
}

function button(text, testid, onClick, label = null) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("data-testid", testid);
  if (label) {
    b.setAttribute("aria-label", label);
    b.title = label;
  }
  b.addEventListener("click", onClick);
  return b;
}

function labelled(text, input) {
  const label = el("label", "painter-field");
  const caption = el("span", "painter-caption");
  caption.textContent = text;
  label.append(caption, input);
  return label;
}

/** A labelled slider that shows its value. */
function range(text, testid, min, max, value) {
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min, max, value });
  input.setAttribute("data-testid", testid);
  const label = labelled(text, input);
  const shown = el("output", "painter-value");
  label.append(shown);
  const show = () => (shown.textContent = input.value);
  input.addEventListener("input", show);
  show();
  return { input, label, show };
}

function number(text, testid, value) {
  const input = document.createElement("input");
  Object.assign(input, { type: "number", min: 8, max: 4096, step: 8, value });
  input.setAttribute("data-testid", testid);
  return { input, label: labelled(text, input) };
}
