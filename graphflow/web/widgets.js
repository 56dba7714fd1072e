// Widgets for literal inputs, each built from the input's schema (type, bounds, choices, widget hint).

import { suggestEmbeddings } from "./suggest.js";

const MAX_SEED = 2 ** 32 - 1;

/**
 * A DOM control for one literal input, its controls named after the input for assistive technology.
 * `onChange(value)` is called with a value of the input's type; `services` gives `uploadImage(file) -> name`,
 * `viewUrl(ref) -> url` and `openPainter(ref, {mode, onSave})` for image inputs, and
 * `embeddingNames() -> Promise<names>` for the suggestions in multiline text.
 */
export function createWidget(input, value, onChange, services) {
  const widget = buildWidget(input, value, onChange, services);
  for (const control of [widget, ...widget.querySelectorAll("input, select, textarea")]) {
    if (control.matches("input, select, textarea") && !control.hasAttribute("aria-label")) control.setAttribute("aria-label", input.name);
  }
  return widget;
}

function buildWidget(input, value, onChange, services) {
  if (input.widget === "image_upload") return imageUpload(input, value, onChange, services);
  if (input.choices) return dropdown(input, value, onChange);
  if (input.type === "BOOLEAN") return toggle(value, onChange);
  if (input.type === "INT" || input.type === "FLOAT") {
    if (input.widget === "seed") return seed(input, value, onChange);
    if (input.widget === "slider" && input.min != null && input.max != null) return slider(input, value, onChange);
    return number(input, value, onChange);
  }
  if (input.type === "STRING") return text(input, value, onChange, services);
  return jsonField(value, onChange);
}

/** The file reference {filename, subfolder, type} of an input image name such as "sub/picture.png". */
export function inputRef(name) {
  const cut = name.lastIndexOf("/");
  return { filename: name.slice(cut + 1), subfolder: cut < 0 ? "" : name.slice(0, cut), type: "input" };
}

/** Bring a typed-in number inside the input's bounds and to its type (whole numbers for INT). */
export function clampNumber(input, raw) {
  let v = Number(raw);
  if (!Number.isFinite(v)) return null;
  if (input.type === "INT") v = Math.round(v);
  if (input.min != null) v = Math.max(input.min, v);
  if (input.max != null) v = Math.min(input.max, v);
  return v;
}

function number(input, value, onChange) {
  const el = document.createElement("input");
  el.type = "number";
  el.className = "w-number";
  if (input.min != null) el.min = input.min;
  if (input.max != null) el.max = input.max;
  el.step = input.step ?? (input.type === "INT" ? 1 : "any");
  el.value = value ?? "";
  el.addEventListener("change", () => {
    const v = clampNumber(input, el.value);
    if (v === null) {
      el.value = value ?? "";
      return;
    }
    el.value = v;
    value = v;
    onChange(v);
  });
  return el;
}

function slider(input, value, onChange) {
  const box = document.createElement("div");
  box.className = "w-slider";
  const range = document.createElement("input");
  range.type = "range";
  range.min = input.min;
  range.max = input.max;
  range.step = input.step ?? (input.type === "INT" ? 1 : (input.max - input.min) / 100);
  range.value = value;
  const shown = document.createElement("span");
  shown.className = "w-slider-value";
  shown.textContent = value;
  range.addEventListener("input", () => (shown.textContent = range.value));
  range.addEventListener("change", () => onChange(clampNumber(input, range.value)));
  box.append(range, shown);
  return box;
}

function seed(input, value, onChange) {
  const box = document.createElement("div");
  box.className = "w-seed";
  const field = number(input, value, onChange);
  const dice = document.createElement("button");
  dice.type = "button";
  dice.className = "w-seed-random";
  dice.title = "Random seed";
  dice.setAttribute("aria-label", `Random ${input.name}`);
  dice.dataset.role = "randomize";
  dice.textContent = "↻";
  dice.addEventListener("click", () => {
    const top = Math.min(input.max ?? MAX_SEED, MAX_SEED);
    const low = Math.max(input.min ?? 0, 0);
    const v = low + Math.floor(Math.random() * (top - low + 1));
    field.value = v;
    onChange(v);
  });
  box.append(field, dice);
  return box;
}

function text(input, value, onChange, services) {
  const el = document.createElement(input.multiline ? "textarea" : "input");
  el.className = input.multiline ? "w-textarea" : "w-text";
  if (!input.multiline) el.type = "text";
  el.value = value ?? "";
  el.spellcheck = false;
  el.addEventListener("change", () => onChange(el.value));
  if (input.multiline && services?.embeddingNames) suggestEmbeddings(el, services.embeddingNames);
  return el;
}

function dropdown(input, value, onChange) {
  const el = document.createElement("select");
  el.className = "w-select";
  const choices = [...input.choices];
  if (value != null && !choices.includes(value)) choices.unshift(value); // keep a missing file visible
  if (value == null) {
    // nothing chosen yet: say so, rather than seeming to choose the first item (which would not be sent)
    const empty = input.widget === "model_file" && !choices.length ? "(no model files found)" : "(choose one)";
    el.append(Object.assign(new Option(empty, "", true, true), { disabled: true }));
  }
  for (const choice of choices) el.append(new Option(choice, choice, false, choice === value));
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

function toggle(value, onChange) {
  const label = document.createElement("label");
  label.className = "w-toggle";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = Boolean(value);
  const knob = document.createElement("span");
  knob.className = "w-toggle-knob";
  box.addEventListener("change", () => onChange(box.checked));
  label.append(box, knob);
  return label;
}

function jsonField(value, onChange) {
  const el = document.createElement("input");
  el.type = "text";
  el.className = "w-text";
  el.value = JSON.stringify(value ?? null);
  el.addEventListener("change", () => {
    try {
      onChange(JSON.parse(el.value));
      el.classList.remove("invalid");
    } catch {
      el.classList.add("invalid");
    }
  });
  return el;
}

function imageUpload(input, value, onChange, services) {
  const box = document.createElement("div");
  box.className = "w-image";
  const choose = (name) => {
    if (![...select.options].some((o) => o.value === name)) select.append(new Option(name, name));
    select.value = name;
    show(name);
    onChange(name);
  };
  const select = dropdown({ ...input, choices: input.choices ?? [] }, value, (v) => {
    show(v);
    onChange(v);
  });
  const file = document.createElement("input");
  file.type = "file";
  file.accept = "image/*";
  file.hidden = true;
  const thumb = document.createElement("img");
  thumb.className = "w-image-thumb";
  thumb.alt = "";
  const current = () => (select.value ? inputRef(select.value) : null);
  const show = (name) => {
    thumb.hidden = !name;
    mask.disabled = !name;
    if (name) thumb.src = services.viewUrl({ filename: name, subfolder: "", type: "input" });
  };
  const upload = smallButton("Upload…", "upload", `Upload a picture for ${input.name}`, () => file.click());
  const mask = smallButton("Mask…", "mask", `Paint a mask on ${input.name}`, () =>
    services.openPainter(current(), { mode: "mask", onSave: choose }));
  const sketch = smallButton("Sketch…", "sketch", `Sketch for ${input.name}, over its picture or on a blank canvas`, () =>
    services.openPainter(current(), { mode: "sketch", onSave: choose }));
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    const name = await services.uploadImage(file.files[0]);
    if (name) choose(name);
  });
  show(value);
  const row = document.createElement("div");
  row.className = "w-image-row";
  row.append(select, upload);
  const paint = document.createElement("div");
  paint.className = "w-image-row";
  paint.append(mask, sketch);
  box.append(row, paint, file, thumb);
  return box;
}

function smallButton(text, role, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = label;
  b.dataset.role = role;
  b.setAttribute("data-testid", `image-${role}`);
  b.addEventListener("click", onClick);
  return b;
}
