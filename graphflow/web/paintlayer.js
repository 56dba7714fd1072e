// The painter's pixels: a picture under a paint layer; soft round strokes, eraser, flood fill, invert, clear, undo.

const UNDO_LIMIT = 50;
const FILL_TOLERANCE = 48;

/** A canvas element of the given size. */
export function makeCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/**
 * The base picture (`base`, never painted) and the layer painted over it (`layer`), both `width` x `height`.
 * A brush is { size (diameter in pixels), hardness 0..1, opacity 0..1, colour "#rrggbb", erase }.
 */
export class PaintLayers {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.base = makeCanvas(width, height);
    this.layer = makeCanvas(width, height);
    this.ctx = this.layer.getContext("2d", { willReadFrequently: true });
    this.strokeBuffer = makeCanvas(width, height); // one stroke at full strength, laid on at the brush's opacity
    this.before = null; // the layer as it was when the current stroke began
    this.history = [];
  }

  /** Remember the layer so that `undo` can bring it back. */
  remember() {
    this.history.push(this.ctx.getImageData(0, 0, this.width, this.height));
    if (this.history.length > UNDO_LIMIT) this.history.shift();
  }

  /** Put the layer back as it was before the last change; false when there is nothing to undo. */
  undo() {
    const last = this.history.pop();
    if (!last) return false;
    this.ctx.putImageData(last, 0, 0);
    return true;
  }

  /** Start a stroke at (x, y) in picture pixels. */
  begin(brush, x, y) {
    this.remember();
    this.brush = brush;
    this.before = makeCanvas(this.width, this.height);
    this.before.getContext("2d").drawImage(this.layer, 0, 0);
    this.strokeBuffer.getContext("2d").clearRect(0, 0, this.width, this.height);
    this.last = [x, y];
    this.dab(x, y);
    this.show();
  }

  /** Continue the stroke to (x, y), with dabs close enough to make a smooth line. */
  to(x, y) {
    if (!this.before) return;
    const [x0, y0] = this.last;
    const spacing = Math.max(0.5, this.brush.size * 0.15);
    const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / spacing));
    for (let i = 1; i <= steps; i++) this.dab(x0 + ((x - x0) * i) / steps, y0 + ((y - y0) * i) / steps);
    this.last = [x, y];
    this.show();
  }

  end() {
    this.before = null;
  }

  dab(x, y) {
    const ctx = this.strokeBuffer.getContext("2d");
    const r = Math.max(0.5, this.brush.size / 2);
    const inner = Math.min(r, r * this.brush.hardness);
    if (inner >= r) ctx.fillStyle = this.brush.colour;
    else {
      const gradient = ctx.createRadialGradient(x, y, inner, x, y, r);
      gradient.addColorStop(0, this.brush.colour);
      gradient.addColorStop(1, `${this.brush.colour}00`);
      ctx.fillStyle = gradient;
    }
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fill();
  }

  /** The layer = the layer before the stroke + the stroke at the brush's opacity (or erased by it). */
  show() {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = "copy";
    ctx.drawImage(this.before, 0, 0);
    ctx.globalCompositeOperation = this.brush.erase ? "destination-out" : "source-over";
    ctx.globalAlpha = this.brush.opacity;
    ctx.drawImage(this.strokeBuffer, 0, 0);
    ctx.restore();
  }

  /** Empty the layer. */
  clear() {
    this.remember();
    this.ctx.clearRect(0, 0, this.width, this.height);
  }

  /** Swap painted and unpainted: each pixel's coverage becomes 1 - coverage, in `colour`. */
  invert(colour) {
    this.remember();
    const data = this.ctx.getImageData(0, 0, this.width, this.height);
    const [r, g, b] = rgb(colour);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      px[i] = r;
      px[i + 1] = g;
      px[i + 2] = b;
      px[i + 3] = 255 - px[i + 3];
    }
    this.ctx.putImageData(data, 0, 0);
  }

  /** Flood-fill the area of similar colour (as seen: base under layer) around (x, y) with the brush's colour. */
  fill(brush, x, y) {
    const [w, h] = [this.width, this.height];
    x = Math.floor(x);
    y = Math.floor(y);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    this.remember();
    const seen = this.flattened().getContext("2d").getImageData(0, 0, w, h).data;
    const target = seen.slice((y * w + x) * 4, (y * w + x) * 4 + 4);
    const near = (i) => Math.abs(seen[i] - target[0]) + Math.abs(seen[i + 1] - target[1]) + Math.abs(seen[i + 2] - target[2]) + Math.abs(seen[i + 3] - target[3]) <= FILL_TOLERANCE;
    const out = this.ctx.getImageData(0, 0, w, h);
    const [r, g, b] = rgb(brush.colour);
    const alpha = Math.round(255 * brush.opacity);
    const done = new Uint8Array(w * h);
    const stack = [y * w + x];
    while (stack.length) {
      const p = stack.pop();
      if (done[p] || !near(p * 4)) continue;
      done[p] = 1;
      const i = p * 4;
      out.data[i] = r;
      out.data[i + 1] = g;
      out.data[i + 2] = b;
      out.data[i + 3] = Math.max(out.data[i + 3], alpha);
      const [px, py] = [p % w, Math.floor(p / w)];
      if (px > 0) stack.push(p - 1);
      if (px < w - 1) stack.push(p + 1);
      if (py > 0) stack.push(p - w);
      if (py < h - 1) stack.push(p + w);
    }
    this.ctx.putImageData(out, 0, 0);
  }

  /** A new canvas with the layer drawn over the base. */
  flattened() {
    const out = makeCanvas(this.width, this.height);
    const ctx = out.getContext("2d");
    ctx.drawImage(this.base, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
    return out;
  }

  /** The layer's coverage as a mask picture in ComfyUI's convention: black, alpha 0 where painted. */
  maskPicture() {
    const out = makeCanvas(this.width, this.height);
    const ctx = out.getContext("2d");
    const painted = this.ctx.getImageData(0, 0, this.width, this.height);
    const mask = ctx.createImageData(this.width, this.height);
    for (let i = 3; i < mask.data.length; i += 4) mask.data[i] = 255 - painted.data[i];
    ctx.putImageData(mask, 0, 0);
    return out;
  }

  /** Paint the layer from a picture's alpha (transparent = painted, in `colour`): a mask saved earlier. */
  loadMask(picture, colour) {
    const ctx = makeCanvas(this.width, this.height).getContext("2d", { willReadFrequently: true });
    ctx.drawImage(picture, 0, 0, this.width, this.height);
    const data = ctx.getImageData(0, 0, this.width, this.height);
    const [r, g, b] = rgb(colour);
    for (let i = 0; i < data.data.length; i += 4) {
      data.data.set([r, g, b, 255 - data.data[i + 3]], i);
    }
    this.ctx.putImageData(data, 0, 0);
  }
}

/** [r, g, b] of "#rrggbb". */
export function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}
