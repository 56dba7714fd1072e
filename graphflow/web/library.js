// The node library sidebar (by category), find-in-graph, align/distribute and first-picture defaults.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installLibrary(app) {}
