// Saving what the painter made into the server's input folder: a mask onto its picture, or a sketch.

import { api } from "./api.js";

const pngOf = (canvas) => new Promise((resolve) => canvas.toBlob(resolve, "image/png"));

/** Save `maskCanvas`'s alpha as the alpha of picture `ref` ({filename, subfolder, type}) under a new name in the
 * input folder (ComfyUI's mask upload: Load Image's MASK is 1 where the alpha is 0); returns the stored name. */
export async function saveMask(maskCanvas, ref) {
  const stem = ref.filename.replace(/\.[^.]*$/, "").replace(/-mask(_\d+)?$/, "");
  const form = new FormData();
  form.append("image", await pngOf(maskCanvas), `${stem}-mask.png`);
  form.append("original_ref", JSON.stringify({ filename: ref.filename, subfolder: ref.subfolder ?? "", type: ref.type ?? "input" }));
  return api.upload("mask", form);
}

/** Save a sketch canvas as a PNG in the input folder, named after the picture it was drawn over (if any); returns
 * the stored name. */
export async function saveSketch(canvas, ref) {
  const form = new FormData();
  const stem = ref ? ref.filename.replace(/\.[^.]*$/, "").replace(/^sketch-/, "") : "blank";
  form.append("image", await pngOf(canvas), `sketch-${stem}.png`);
  return api.upload("image", form);
}
