// The settings panel, the keyboard shortcuts panel and small-screen layout.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installSettings(app) {}
