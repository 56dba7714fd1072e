// What a node attached for display (its `ui`): image references and texts, turned into URLs and strings.

const IMAGE_FILE = /\.(png|jpe?g|webp|gif|bmp)$/i;

/** Split a node's ui outputs into image URLs and texts. */
export function readOutputs(ui, viewUrl) {
  const images = [];
  const texts = [];
  for (const items of Object.values(ui ?? {})) {
    for (const item of Array.isArray(items) ? items : [items]) {
      if (item && typeof item === "object" && typeof item.text === "string") texts.push(item.text);
      else if (item && typeof item === "object" && IMAGE_FILE.test(item.filename ?? "")) images.push(viewUrl(item));
      else if (typeof item === "string" || typeof item === "number") texts.push(String(item));
    }
  }
  return { images, texts };
}
