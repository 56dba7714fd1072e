// A yes/no question in an in-page modal dialog (not window.confirm: it keeps the page's look and can be tested).

/** Ask `message`; resolves true when the user picks `accept`, false on Cancel or Escape. */
export function ask(message, accept, cancel = "Cancel") {
  const dialog = document.createElement("dialog");
  dialog.className = "ask-dialog";
  dialog.setAttribute("data-testid", "ask-dialog");
  const text = document.createElement("p");
  text.id = `ask-${Date.now()}`;
  text.textContent = message;
  dialog.setAttribute("aria-labelledby", text.id);
  const buttons = document.createElement("div");
  buttons.className = "ask-buttons";
  buttons.append(answer(dialog, cancel, "cancel"), answer(dialog, accept, "accept"));
  dialog.append(text, buttons);
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "accept");
    });
  });
}

function answer(dialog, label, value) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("data-testid", `ask-${value}`);
  if (value === "accept") button.className = "primary";
  else button.autofocus = true;
  button.addEventListener("click", () => dialog.close(value));
  return button;
}
