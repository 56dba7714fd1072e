// Reading text chunks (tEXt, iTXt, zTXt) from PNG bytes, to find an embedded workflow.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
export const WORKFLOW_KEY = "graphflow.workflow";

/** Whether the bytes start with the PNG signature. */
export function isPng(bytes) {
  return SIGNATURE.every((b, i) => bytes[i] === b);
}

/** All text chunks of a PNG as a Map keyword -> text (compressed ones are inflated). */
export async function pngText(buffer) {
  const bytes = new Uint8Array(buffer);
  if (!isPng(bytes)) throw new Error("not a PNG file");
  const view = new DataView(buffer);
  const texts = new Map();
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IEND") break;
    if (type === "tEXt") {
      const [key, rest] = splitNul(data);
      texts.set(latin1(key), latin1(rest));
    } else if (type === "zTXt") {
      const [key, rest] = splitNul(data);
      texts.set(latin1(key), latin1(await inflate(rest.subarray(1))));
    } else if (type === "iTXt") {
      const [key, rest] = splitNul(data);
      const compressed = rest[0] === 1;
      const [, afterLang] = splitNul(rest.subarray(2));
      const [, text] = splitNul(afterLang);
      texts.set(latin1(key), new TextDecoder().decode(compressed ? await inflate(text) : text));
    }
    at += 12 + length;
  }
  return texts;
}

/** The workflow JSON embedded in a PNG, or null when it carries none. */
export async function workflowFromPng(buffer) {
  const texts = await pngText(buffer);
  for (const key of [WORKFLOW_KEY, "workflow"]) {
    if (texts.has(key)) {
      try {
        return JSON.parse(texts.get(key));
      } catch {
        throw new Error(`the PNG's "${key}" text is not valid JSON`);
      }
    }
  }
  return null;
}

function splitNul(bytes) {
  const i = bytes.indexOf(0);
  return i < 0 ? [bytes, new Uint8Array()] : [bytes.subarray(0, i), bytes.subarray(i + 1)];
}

function latin1(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
