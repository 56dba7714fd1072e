// The preferences registry: every concern declares its settings here; values live in localStorage.

const STORE_KEY = "graphflow.settings";
const definitions = new Map();
const watchers = new Map();
let stored = load();

/** Declare a preference: { key, label, type: "boolean" | "choice", default, choices: [value | {value, label}],
 * group, help }; the Settings dialog lists every declared one under its group. */
export function registerSetting(definition) {
  definitions.set(definition.key, { group: "General", ...definition });
}

/** Every declared preference, in the order they were declared. */
export function settingDefinitions() {
  return [...definitions.values()];
}

/** Read and change preferences; `watch(key, fn)` calls `fn(value)` now and after every change, and returns an
 * unwatch function. */
export const settings = {
  get(key) {
    return Object.hasOwn(stored, key) ? stored[key] : definitions.get(key)?.default;
  },
  set(key, value) {
    stored = { ...stored, [key]: value };
    localStorage.setItem(STORE_KEY, JSON.stringify(stored));
    for (const fn of watchers.get(key) ?? []) fn(value);
  },
  watch(key, fn) {
    if (!watchers.has(key)) watchers.set(key, new Set());
    watchers.get(key).add(fn);
    fn(this.get(key));
    return () => watchers.get(key).delete(fn);
  },
};

function load() {
  try {
    const value = JSON.parse(localStorage.getItem(STORE_KEY) ?? "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
