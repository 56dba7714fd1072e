// Opening and saving workflow files: file picker, download, drag-and-drop of JSON or PNG, examples; dropped
// pictures that are no workflow go to whoever takes pictures (see `takePictures`).

import { api } from "./api.js";
import { WORKFLOW_KEY, isPng, pngText, workflowFromPng } from "./png.js";

/** A file that is a picture but carries no workflow. */
export class NotAWorkflow extends Error {}

let pictures = null;

/** Let `handler` take dropped pictures: `onNode(file, nodeId)` for a drop on a node (true when it took the file;
 * otherwise the file is read as for a drop on the canvas) and `onCanvas(file, clientX, clientY)` for a picture
 * without a workflow dropped anywhere else. */
export function takePictures(handler) {
  pictures = handler;
}

/** Whether a File is a picture (by its type, or its name when the type is empty). */
export function isPicture(file) {
  return file.type ? file.type.startsWith("image/") : /\.(png|jpe?g|webp|gif|bmp)$/i.test(file.name);
}

/** The workflow JSON inside a dropped/picked File (a .json file or a PNG carrying one);
 * ComfyUI files (API or UI format, JSON or PNG) are converted by the server. */
export async function workflowFromFile(file) {
  const buffer = await file.arrayBuffer();
  if (isPng(new Uint8Array(buffer, 0, Math.min(8, buffer.byteLength)))) {
    const texts = await pngText(buffer);
    if (!texts.has(WORKFLOW_KEY) && (texts.has("prompt") || texts.has("workflow"))) return api.importComfy(file);
    const data = await workflowFromPng(buffer);
    if (!data) throw new NotAWorkflow(`${file.name}: this PNG carries no workflow`);
    return data;
  }
  if (isPicture(file) && !/json/.test(file.type)) throw new NotAWorkflow(`${file.name}: this picture carries no workflow`);
  let data;
  try {
    data = JSON.parse(new TextDecoder().decode(buffer));
  } catch {
    throw new Error(`${file.name}: not a workflow (neither JSON nor a PNG)`);
  }
  return isComfy(data) ? api.importComfy(file) : data;
}

/** Whether JSON data is a ComfyUI workflow: UI format (a nodes list) or API format (nodes with class_type). */
function isComfy(data) {
  if (!data || typeof data !== "object" || Array.isArray(data) || data.format) return false;
  const nodes = Object.values(data);
  return Array.isArray(data.nodes) || (nodes.length > 0 && nodes.every((n) => n && typeof n === "object" && "class_type" in n));
}

/** Offer `data` as a downloaded JSON file. */
export function download(data, filename) {
  const blob = new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Open files dropped on `target` with `open(data, name)`; `fail(message)` reports a bad file. Pictures go to the
 * picture handler when one is set (see `takePictures`). */
export function acceptDrops(target, open, fail) {
  target.addEventListener("dragover", (e) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    target.classList.add("drop-hover");
  });
  target.addEventListener("dragleave", () => target.classList.remove("drop-hover"));
  target.addEventListener("drop", async (e) => {
    e.preventDefault();
    target.classList.remove("drop-hover");
    const file = e.dataTransfer.files[0];
    if (!file) return;
    const nodeId = e.target.closest?.(".node")?.dataset.nodeId;
    if (pictures && nodeId && isPicture(file) && pictures.onNode(file, nodeId)) return;
    try {
      open(await workflowFromFile(file), file.name);
    } catch (err) {
      if (pictures && err instanceof NotAWorkflow) pictures.onCanvas(file, e.clientX, e.clientY);
      else fail(err.message);
    }
  });
}

/** Let the user pick a file with a hidden file input and open it. */
export function pickFile(input, open, fail) {
  input.addEventListener("change", async () => {
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    try {
      open(await workflowFromFile(file), file.name);
    } catch (err) {
      fail(err.message);
    }
  });
  input.click();
}
