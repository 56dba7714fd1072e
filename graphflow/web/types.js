// Value types on edges: which may feed which, and the colour each is drawn in.

const COLOURS = {
  INT: "#7fb8ff", FLOAT: "#62d2c4", STRING: "#9fd86b", BOOLEAN: "#d9a0ff",
  LATENT: "#ff8ab3", IMAGE: "#6fa8ff", MASK: "#b0b0b0", CONDITIONING: "#ffb454",
  MODEL: "#b68cff", VAE: "#ff6e6e", CLIP: "#ffd84d", UPSCALE_MODEL: "#8ad0ff",
};

const CATEGORY_COLOURS = {
  math: "#2f5d8a", primitive: "#4a4f63", text: "#3d6b3a", sampling: "#6b3a6b",
  loaders: "#6b4a2a", latent: "#7a3350", image: "#2a5a6b", conditioning: "#6b5a22",
  mask: "#555555",
};

/** Whether an output of type `source` may be wired into an input of type `target`. */
export function canFeed(source, target) {
  return source === target || (source === "INT" && target === "FLOAT");
}

/** The wire/port colour of a type; unknown types get a stable hue from their name. */
export function typeColour(type) {
  return COLOURS[type] ?? hashHue(type, 65, 62);
}

/** The header colour of a node category. */
export function categoryColour(category) {
  const top = (category || "misc").split("/")[0];
  return CATEGORY_COLOURS[top] ?? hashHue(top, 30, 32);
}

/** Types whose values can be typed into a widget rather than only arriving on a wire. */
export function isLiteralInput(input) {
  return input.source !== "link";
}

function hashHue(text, saturation, lightness) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} ${saturation}% ${lightness}%)`;
}
