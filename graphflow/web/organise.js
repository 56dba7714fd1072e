// Organising tools: groups, notes, reroutes, bypass/mute, collapse, rename and resize.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installOrganise(app) {}
