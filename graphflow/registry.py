"""Node type id -> class, which plugin gave it, problems met while loading, and JSON schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphflow.declaration import DeclarationError, Input, NodeSpec, spec_of
from graphflow.settings import Settings


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded, or a node it could not register."""

    plugin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r}: {self.message}"


@dataclass
class Registry:
    """All node types known to this process and where each came from."""

    specs: dict[str, NodeSpec] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    failed_plugins: dict[str, str] = field(default_factory=dict)

    def add_plugin_nodes(self, plugin: str, classes: list[type]) -> None:
        """Register one plugin's classes, all or nothing; id clashes are recorded against both plugins."""
        specs: list[NodeSpec] = []
        for cls in classes:
            try:
                specs.append(spec_of(cls))
            except DeclarationError as exc:
                self.fail(plugin, str(exc))
                return
        for spec in specs:
            owner = self.providers.get(spec.type_id)
            if spec.type_id in self.conflicts:
                self.conflicts[spec.type_id].append(plugin)
            elif owner is not None and owner != plugin:
                self.conflicts[spec.type_id] = [owner, plugin]
                del self.specs[spec.type_id], self.providers[spec.type_id]
            else:
                self.specs[spec.type_id] = spec
                self.providers[spec.type_id] = plugin
                continue
            claimants = " and ".join(repr(p) for p in self.conflicts[spec.type_id])
            self.problems.append(
                PluginProblem(
                    plugin,
                    f"node type {spec.type_id!r} is claimed by plugins {claimants}; "
                    "neither is used until one is removed",
                )
            )

    def fail(self, plugin: str, message: str) -> None:
        """Record that a plugin was skipped and why."""
        self.failed_plugins[plugin] = message
        self.problems.append(PluginProblem(plugin, message))

    def get(self, type_id: str) -> NodeSpec | None:
        """The spec for a type id, or None."""
        return self.specs.get(type_id)

    def explain_unknown(self, type_id: str, plugin_hint: str | None = None) -> str:
        """A sentence on why a node type is missing, naming the plugin when it can be known."""
        if type_id in self.conflicts:
            both = " and ".join(repr(p) for p in self.conflicts[type_id])
            return f"node type {type_id!r} is claimed by plugins {both}; remove one of them"
        namespace = type_id.split(".", 1)[0]
        for plugin, message in self.failed_plugins.items():
            if plugin in (plugin_hint, namespace) or plugin.endswith(f":{namespace}"):
                return f"node type {type_id!r} comes from plugin {plugin!r}, which failed to load: {message}"
        if plugin_hint:
            return f"unknown node type {type_id!r}: it comes from plugin {plugin_hint!r}, which is not installed"
        return f"unknown node type {type_id!r}: no installed plugin provides it"

    def schema(self, type_id: str, settings: Settings) -> dict[str, Any]:
        """The JSON description of one node type the editor draws widgets from (choices as `settings` give them)."""
        spec = self.specs[type_id]
        return {
            "type": spec.type_id,
            "version": spec.version,
            "title": spec.title,
            "category": spec.category,
            "description": spec.description,
            "plugin": self.providers[type_id],
            "output_node": spec.is_output,
            "cacheable": spec.cacheable,
            "inputs": [_input_schema(i, settings) for i in spec.inputs.values()],
            "outputs": [
                {"name": o.name, "type": o.type.name, "description": o.description} for o in spec.outputs.values()
            ],
        }

    def catalogue(self, settings: Settings) -> list[dict[str, Any]]:
        """Schemas of every node type, sorted by category then id."""
        ids = sorted(self.specs, key=lambda t: (self.specs[t].category, t))
        return [self.schema(t, settings) for t in ids]


def _input_schema(field_: Input, settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": field_.name,
        "type": field_.type.name,
        "required": field_.required,
        "source": field_.source,
    }
    if field_.has_default:
        out["default"] = field_.default
    choices = field_.current_choices(settings)
    extras = {
        "min": field_.min,
        "max": field_.max,
        "step": field_.step,
        "widget": field_.widget,
        "choices": list(choices) if choices is not None else None,
    }
    out.update({k: v for k, v in extras.items() if v is not None})
    if field_.multiline:
        out["multiline"] = True
    if field_.optional:
        out["optional"] = True
    if field_.description:
        out["description"] = field_.description
    return out
