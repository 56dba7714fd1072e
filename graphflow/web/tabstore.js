// The open workflow tabs in the browser's storage: read back after a reload, written within the storage quota.

export const TABS_KEY = "graphflow.editor.tabs";
const OLD_KEY = "graphflow.editor.workflow"; // the one workflow editors before tabs kept
/** Undo and redo steps kept per tab in storage (the live history keeps more). */
export const STORED_STEPS = 50;

/** The stored `{ tabs, active }` or null; a workflow kept by an editor before tabs comes back as one unsaved tab. */
export function readTabs(storage = localStorage) {
  try {
    const data = JSON.parse(storage.getItem(TABS_KEY));
    if (Array.isArray(data?.tabs) && data.tabs.length) return data;
  } catch {
    // unreadable: fall through to the older key, then to a fresh start
  }
  try {
    const workflow = JSON.parse(storage.getItem(OLD_KEY));
    return workflow ? { tabs: [{ name: "workflow.json", workflow, saved: null }], active: null } : null;
  } catch {
    return null;
  }
}

/** Store every tab; when the quota is exceeded, halve the undo steps kept (oldest go first) until the graphs fit.
 * Returns the steps kept per tab, or -1 when not even the graphs fit. */
export function writeTabs(tabs, active, storage = localStorage) {
  for (let keep = STORED_STEPS; ; keep = Math.floor(keep / 2)) {
    try {
      storage.setItem(TABS_KEY, JSON.stringify({ version: 1, active, tabs: tabs.map((t) => stored(t, keep)) }));
      storage.removeItem(OLD_KEY);
      return keep;
    } catch (err) {
      if (err?.name !== "QuotaExceededError") throw err;
      if (keep === 0) return -1;
    }
  }
}

function stored(tab, keep) {
  const { past = [], future = [], current = null } = tab.history ?? {};
  const latest = (steps) => (keep ? steps.slice(-keep) : []);
  const history = { past: latest(past), future: latest(future) };
  // The recorded state differs from the graph only while an edit is unrecorded; otherwise the graph says it.
  if (current !== null && current !== JSON.stringify(tab.workflow)) history.current = current;
  const { id, name, workflow, view, saved, source } = tab;
  return { id, name, workflow, history, view, saved, source };
}
