// A modal dialog on the native <dialog>: a heading, a close button, Escape and a backdrop click close it, and
// the focus goes back to where it was.

/** A modal dialog named by `title`; fill `body`, then call `open()`. The close button's test id is
 * `${testid}-close`. */
export function modalDialog({ id, title, testid }) {
  const dialog = document.createElement("dialog");
  dialog.id = id;
  dialog.className = "modal";
  dialog.setAttribute("data-testid", testid);
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", `${id}-title`);
  const heading = document.createElement("h2");
  heading.id = `${id}-title`;
  heading.textContent = title;
  const close = document.createElement("button");
  close.className = "icon-button modal-close";
  close.setAttribute("aria-label", "Close");
  close.setAttribute("data-testid", `${testid}-close`);
  close.textContent = "✕";
  close.addEventListener("click", () => dialog.close());
  const header = document.createElement("header");
  header.className = "modal-header";
  header.append(heading, close);
  const body = document.createElement("div");
  body.className = "modal-body";
  body.tabIndex = 0; // keyboard users can scroll a long list that holds nothing focusable
  dialog.append(header, body);
  document.body.append(dialog);
  // the dialog box has no padding of its own, so a click on the dialog element itself is a click on the backdrop
  dialog.addEventListener("click", (e) => e.target === dialog && dialog.close());
  let opener = null;
  dialog.addEventListener("close", () => opener?.isConnected && opener.checkVisibility() && opener.focus());
  return {
    dialog,
    body,
    open() {
      opener = document.activeElement;
      dialog.showModal();
    },
  };
}
