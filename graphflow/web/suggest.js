// Suggestions in prompt fields: after `embedding:`, the embedding names the server offers.

const TYPED = /(?:^|[\s,()[\]])embedding:([^\s,()[\]]*)$/;
const SUFFIX = /\.(safetensors|sft|pt|pth|bin|ckpt)$/i;
const SHOWN = 12;

/** The names a prompt uses for the files of GET /api/models/embeddings: no `builtin:`, no suffix. */
export function embeddingNames(files) {
  return [...new Set(files.map((f) => f.replace(/^builtin:/, "").replace(SUFFIX, "")))];
}

/** Names that start with `typed` first, then those that contain it (case aside). */
export function matching(names, typed) {
  const t = typed.toLowerCase();
  const starts = names.filter((n) => n.toLowerCase().startsWith(t));
  return [...starts, ...names.filter((n) => !starts.includes(n) && n.toLowerCase().includes(t))];
}

/**
 * Offer embedding names under a text field while the text before the caret ends in `embedding:<partial>`.
 * `loadNames()` returns a promise of names; it is asked each time the list opens. Arrow keys move,
 * Enter or Tab inserts, Escape closes; inserting commits the field like leaving it does.
 */
export function suggestEmbeddings(field, loadNames) {
  const list = document.createElement("ul");
  list.className = "suggest";
  list.setAttribute("data-testid", "embedding-suggestions");
  list.addEventListener("mousedown", (e) => e.preventDefault()); // keep the caret in the field
  let names = null; // a promise while the list is open
  let shown = [];
  let active = 0;
  let start = 0;

  const close = () => {
    names = null;
    list.remove();
  };

  const typed = () => {
    if (field.selectionStart !== field.selectionEnd) return null;
    const match = TYPED.exec(field.value.slice(0, field.selectionStart));
    return match ? match[1] : null;
  };

  const update = async () => {
    const partial = typed();
    if (partial === null) return close();
    names ??= loadNames().catch(() => []);
    const all = await names;
    if (typed() !== partial || !field.isConnected) return;
    start = field.selectionStart - partial.length;
    shown = matching(all, partial).slice(0, SHOWN);
    active = 0;
    draw(all.length === 0);
  };

  const draw = (none) => {
    list.replaceChildren();
    if (!shown.length) {
      if (!none) return list.remove();
      const empty = Object.assign(document.createElement("li"), { className: "suggest-empty" });
      empty.textContent = "no embeddings in models/embeddings";
      list.append(empty);
    }
    shown.forEach((name, i) => {
      const item = document.createElement("li");
      item.textContent = name;
      item.dataset.name = name;
      item.classList.toggle("active", i === active);
      item.addEventListener("click", () => insert(name));
      list.append(item);
    });
    const box = field.getBoundingClientRect();
    Object.assign(list.style, { left: `${box.left}px`, top: `${box.bottom + 2}px`, minWidth: `${box.width}px` });
    if (!list.isConnected) document.body.append(list);
  };

  const insert = (name) => {
    field.setRangeText(name, start, field.selectionStart, "end");
    close();
    field.dispatchEvent(new Event("change"));
  };

  field.addEventListener("input", update);
  field.addEventListener("blur", close);
  field.addEventListener("keydown", (e) => {
    if (!list.isConnected) return;
    if (e.key === "Escape") close();
    else if (!shown.length) return;
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      active = (active + (e.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      [...list.children].forEach((item, i) => item.classList.toggle("active", i === active));
    } else if (e.key === "Enter" || e.key === "Tab") insert(shown[active]);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
}
