// The picture viewer: outputs at a useful size, zoom, download and before/after compare.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installViewer(app) {}
