// Undo/redo as a stack of whole-graph snapshots (workflows are small; snapshots keep it simple and exact).

/** Keeps snapshots of a graph; `record()` after each finished edit, `undo()`/`redo()` restore. */
export class UndoStack {
  constructor(graph, limit = 200) {
    this.graph = graph;
    this.limit = limit;
    this.past = [];
    this.future = [];
    this.current = this.snapshot();
  }

  snapshot() {
    return JSON.stringify(this.graph.toWorkflow());
  }

  /** Remember the graph's present state if it differs from the last one recorded. */
  record() {
    const now = this.snapshot();
    if (now === this.current) return;
    this.past.push(this.current);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
    this.current = now;
  }

  /** Forget the history (after opening another workflow). */
  reset() {
    this.past = [];
    this.future = [];
    this.current = this.snapshot();
  }

  /** The history as plain data: { past, future, current } (snapshots, oldest first). */
  export() {
    return { past: [...this.past], future: [...this.future], current: this.current };
  }

  /** Take over a history from `export()`; the graph must already show its state (or one edited since). */
  import({ past = [], future = [], current = null } = {}) {
    this.past = past.slice(-this.limit);
    this.future = [...future];
    this.current = current ?? this.snapshot();
  }

  // A change nobody recorded (e.g. a wire picked off its input and dropped nowhere) becomes its own step
  // first, so Ctrl+Z undoes just that change rather than it and the edit before it.
  undo() {
    this.record();
    if (!this.past.length) return false;
    this.future.push(this.current);
    this.restore(this.past.pop());
    return true;
  }

  redo() {
    this.record();
    if (!this.future.length) return false;
    this.past.push(this.current);
    this.restore(this.future.pop());
    return true;
  }

  restore(state) {
    this.current = state;
    this.graph.load(JSON.parse(state));
  }
}
