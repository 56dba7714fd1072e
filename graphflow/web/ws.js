// The websocket to the server: JSON events and binary preview frames, reconnecting when dropped.

/** Decode a binary preview frame into `{header, blob}`, or null when it is of an unknown kind. */
export function decodeFrame(buffer) {
  const view = new DataView(buffer);
  if (view.getUint32(0) !== 1) return null;
  const n = view.getUint32(4);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, n)));
  return { header, blob: new Blob([new Uint8Array(buffer, 8 + n)], { type: header.mime || "image/jpeg" }) };
}

/** Connect to `url`; `onEvent(type, data)` gets each message, `onPreview(header, blob)` each frame. */
export function connect(url, { onEvent, onPreview, onStatus }) {
  let delay = 500;
  let socket = null;
  const open = () => {
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      delay = 500;
      onStatus(true);
    });
    socket.addEventListener("message", (msg) => {
      if (typeof msg.data === "string") {
        const { type, data } = JSON.parse(msg.data);
        onEvent(type, data ?? {});
      } else {
        const frame = decodeFrame(msg.data);
        if (frame) onPreview(frame.header, frame.blob);
      }
    });
    socket.addEventListener("close", () => {
      onStatus(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 8000);
    });
  };
  open();
  return { send: (type, data = {}) => socket?.readyState === 1 && socket.send(JSON.stringify({ type, data })) };
}
