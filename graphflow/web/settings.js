// The Settings dialog (toolbar ⚙): every registered preference, grouped; also installs the layout and shortcuts
// help. Other modules declare their preferences with registerSetting and read them with settings.get/watch.

import { modalDialog } from "./dialog.js";
import { installHelp } from "./help.js";
import { installLayout } from "./layout.js";
import { registerSetting, settingDefinitions, settings } from "./preferences.js";

export { registerSetting, settings };

/** Wire this concern into the editor: `app.settings`, the Settings dialog, the layout and the shortcuts dialog. */
export function installSettings(app) {
  app.settings = settings;
  installLayout();
  installHelp();
  const dialog = modalDialog({ id: "settings-dialog", title: "Settings", testid: "settings-dialog" });
  document.getElementById("btn-settings").addEventListener("click", () => {
    dialog.body.replaceChildren(...groups());
    dialog.open();
  });
}

function groups() {
  const byGroup = Map.groupBy(settingDefinitions(), (d) => d.group);
  return [...byGroup].map(([group, definitions]) => {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "setting-group";
    const legend = document.createElement("legend");
    legend.textContent = group;
    fieldset.append(legend, ...definitions.map(control));
    return fieldset;
  });
}

/** A labelled checkbox or select bound to one preference; its help text describes it. */
function control(definition) {
  const { key, label, type, help } = definition;
  const id = `setting-${key.replace(/[^\w-]/g, "-")}`;
  const row = document.createElement("div");
  row.className = `setting setting-${type}`;
  const input = type === "boolean" ? checkbox(key) : select(key, definition.choices ?? []);
  input.id = id;
  input.setAttribute("data-testid", `setting-${key}`);
  const name = document.createElement("label");
  name.htmlFor = id;
  name.textContent = label;
  row.append(...(type === "boolean" ? [input, name] : [name, input]));
  if (help) {
    const note = document.createElement("p");
    note.className = "setting-help";
    note.id = `${id}-help`;
    note.textContent = help;
    input.setAttribute("aria-describedby", note.id);
    row.append(note);
  }
  return row;
}

function checkbox(key) {
  const input = document.createElement("input");
  input.type = "checkbox";
  input.checked = Boolean(settings.get(key));
  input.addEventListener("change", () => settings.set(key, input.checked));
  return input;
}

function select(key, choices) {
  const input = document.createElement("select");
  for (const choice of choices) {
    const { value, label } = typeof choice === "object" ? choice : { value: choice, label: String(choice) };
    input.append(new Option(label, JSON.stringify(value), false, value === settings.get(key)));
  }
  input.addEventListener("change", () => settings.set(key, JSON.parse(input.value)));
  return input;
}
