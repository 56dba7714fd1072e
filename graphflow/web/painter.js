// Mask and sketch painter: paint a mask over an image or draw a sketch, save it to the input folder.

/** Wire this concern into the editor; `app` provides the editor's services. */
export function installPainter(app) {}
