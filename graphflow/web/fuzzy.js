// Fuzzy matching and ranking of node types (no DOM): "clip text encode" == "cliptextencode" == "CLIPTextEncode".

/** How well a query matches one text, best first; `null` is no match. */
const TIER = { exact: 0, prefix: 1, wordStart: 2, substring: 3, subsequence: 4 };

// Matches outside the names of a node rank after any match in them.
const CATEGORY_PENALTY = 10;
const DESCRIPTION_PENALTY = 20;
const WORDWISE_PENALTY = 30;

/** Lower-case letters and digits only. */
function compact(text) {
  return String(text ?? "").toLowerCase().replace(/[^a-z0-9]+/g, "");
}

/** The words of a text: split at spaces, punctuation and camelCase humps ("CLIPTextEncode" -> clip, text, encode). */
function words(text) {
  return String(text ?? "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** A text prepared for matching: its compact form and where each word starts in it. */
function prepare(text) {
  const starts = new Set();
  let at = 0;
  for (const w of words(text)) {
    starts.add(at);
    at += w.length;
  }
  return { flat: compact(text), starts };
}

/** The tier of compact query `q` against a prepared text, or null. */
function matchTier(q, { flat, starts }) {
  if (!q || !flat) return null;
  if (flat === q) return TIER.exact;
  if (flat.startsWith(q)) return TIER.prefix;
  let found = flat.indexOf(q);
  if (found < 0) return isSubsequence(q, flat) ? TIER.subsequence : null;
  for (let i = found; i >= 0; i = flat.indexOf(q, i + 1)) if (starts.has(i)) return TIER.wordStart;
  return TIER.substring;
}

// In order, with at most half as many letters skipped as typed ("ksmplr" finds "KSampler", "int" not "DDIM Invert").
function isSubsequence(q, flat) {
  const slack = Math.floor(q.length / 2);
  for (let start = flat.indexOf(q[0]); start >= 0; start = flat.indexOf(q[0], start + 1)) {
    let i = 1;
    let at = start + 1;
    for (; at < flat.length && i < q.length && at - start - i <= slack; at++) if (flat[at] === q[i]) i++;
    if (i === q.length && at - start - q.length <= slack) return true;
  }
  return false;
}

const prepared = new WeakMap();

/** The fields of a node schema, prepared once: names (title, type id, ComfyUI names), category, description. */
function fieldsOf(schema) {
  if (prepared.has(schema)) return prepared.get(schema);
  const names = [schema.title, schema.type, schema.type.split(".").pop(), ...(schema.comfy_names ?? [])];
  const fields = { names: names.map(prepare), category: prepare(schema.category), description: prepare(schema.description) };
  prepared.set(schema, fields);
  return fields;
}

// Category and description only count as a whole word or a word start: a stray subsequence there is noise.
function bestTier(q, fields) {
  let best = null;
  for (const name of fields.names) {
    const t = matchTier(q, name);
    if (t !== null && (best === null || t < best)) best = t;
  }
  if (best !== null) return best;
  const inCategory = matchTier(q, fields.category);
  if (inCategory !== null && inCategory <= TIER.wordStart) return CATEGORY_PENALTY + inCategory;
  const inDescription = matchTier(q, fields.description);
  if (inDescription !== null && inDescription <= TIER.wordStart) return DESCRIPTION_PENALTY + inDescription;
  return null;
}

/** The score of a schema for a query (lower is better), or null when it does not match. */
function scoreSchema(schema, query) {
  const fields = fieldsOf(schema);
  const q = compact(query);
  if (!q) return 0;
  const whole = bestTier(q, fields);
  if (whole !== null) return whole;
  // "latent empty": each word on its own, ranked after every whole-query match
  const parts = words(query).map(compact);
  if (parts.length < 2) return null;
  let worst = 0;
  for (const part of parts) {
    const t = bestTier(part, fields);
    if (t === null) return null;
    worst = Math.max(worst, t);
  }
  return WORDWISE_PENALTY + worst;
}

/** Schemas matching `query`, best first (ties: shorter title, then title order); all of them for an empty query. */
export function rankSchemas(schemas, query) {
  if (!compact(query)) return schemas;
  const scored = [];
  for (const s of schemas) {
    const score = scoreSchema(s, query);
    if (score !== null) scored.push([score, s]);
  }
  scored.sort(([a, s], [b, t]) => a - b || s.title.length - t.title.length || s.title.localeCompare(t.title));
  return scored.map(([, s]) => s);
}

/** Items whose fields (strings from `fieldsOfItem(item)`) match `query`, best first (for the graph's nodes). */
export function rankBy(items, query, fieldsOfItem) {
  const q = compact(query);
  if (!q) return items;
  const scored = [];
  for (const item of items) {
    const tiers = fieldsOfItem(item).map((f) => matchTier(q, prepare(f))).filter((t) => t !== null);
    if (tiers.length) scored.push([Math.min(...tiers), item]);
  }
  return scored.sort((a, b) => a[0] - b[0]).map(([, item]) => item);
}
