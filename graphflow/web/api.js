// REST calls to the graphflow server (see docs/api.md); errors carry the server's message and issues.

const token = new URLSearchParams(location.search).get("token");

/** An error response from the server: `code`, `message` and, for invalid workflows, `issues`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `server answered ${status}`);
    this.status = status;
    this.code = body?.error ?? "http_error";
    this.issues = body?.issues ?? [];
  }
}

async function call(method, path, body = undefined) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`api/${path}`, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, { error: "offline", message: "cannot reach the graphflow server; is it running?" });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const q = encodeURIComponent;

export const api = {
  nodes: () => call("GET", "nodes"),
  validate: (workflow) => call("POST", "validate", { workflow }),
  queuePrompt: (workflow, clientId) => call("POST", "prompt", { workflow, client_id: clientId }),
  queue: () => call("GET", "queue"),
  workers: () => call("GET", "workers"),
  history: (limit = 50) => call("GET", `history?limit=${limit}`),
  prompt: (id) => call("GET", `prompt/${q(id)}`),
  cancel: (id) => call("DELETE", `queue/${q(id)}`),
  interrupt: () => call("POST", "interrupt", {}),
  clearQueue: () => call("DELETE", "queue"),
  clearHistory: () => call("DELETE", "history"),
  workflows: () => call("GET", "workflows"),
  workflow: (source, name) => call("GET", `workflows/${q(source)}/${name.split("/").map(q).join("/")}`),
  models: (kind) => call("GET", `models/${q(kind)}`),
  /** Save into the server's user folder; with `overwrite: false` an existing file of that name is a "conflict". */
  saveWorkflow: (name, workflow, { overwrite = true } = {}) =>
    call("PUT", `workflows/user/${name.split("/").map(q).join("/")}?overwrite=${overwrite}`, workflow),

  /** POST a form to `upload/image` or `upload/mask`; returns the stored file name (with subfolder). */
  async upload(kind, form) {
    const ref = await call("POST", `upload/${kind}`, form);
    return ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename;
  },

  /** Upload an image file into the input folder; returns the stored file name (with subfolder). */
  uploadImage(file) {
    const form = new FormData();
    form.append("image", file, file.name);
    return api.upload("image", form);
  },

  /** Convert a ComfyUI workflow file (JSON or PNG) to a graphflow workflow on the server. */
  importComfy(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return call("POST", "import/comfy", form);
  },

  /** The URL that shows a saved file reference `{filename, subfolder, type}`. */
  viewUrl(ref) {
    const params = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder ?? "", type: ref.type ?? "output" });
    if (token) params.set("token", token);
    return `api/view?${params}`;
  },

  /** The websocket URL for a client id. */
  wsUrl(clientId) {
    const params = new URLSearchParams({ client_id: clientId });
    if (token) params.set("token", token);
    const base = new URL("api/ws", location.href);
    base.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    return `${base}?${params}`;
  },
};
