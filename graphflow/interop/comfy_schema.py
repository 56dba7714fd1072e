"""What ComfyUI's server reports, built from graphflow's registry: node definitions (/object_info)
and validation errors in ComfyUI's shape."""

from __future__ import annotations

from typing import Any

from graphflow.graph import ValidationIssue
from graphflow.interop.comfy_api import comfy_origin, owner_of, recorded
from graphflow.interop.comfy_nodes import CONTROL, LOAD_IMAGE_MASK, NODE_MAPS, UPLOAD, NodeMap, ValueMap
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.workflow import Workflow

_KINDS = {
    "missing_input": ("required_input_missing", "Required input is missing"),
    "type_mismatch": ("return_type_mismatch", "Return type mismatch between linked nodes"),
    "invalid_literal": ("invalid_input_type", "Failed to convert an input value"),
    "not_in_choices": ("value_not_in_list", "Value not in list"),
    "cycle": ("dependency_cycle", "Dependency cycle detected"),
}
_OPTIONS = ("default", "min", "max", "step", "multiline")
_WIDGET_FLAGS = {CONTROL: "control_after_generate", UPLOAD: "image_upload"}


def _definition(field: dict[str, Any], values: ValueMap | None, flag: str | None, default: Any = None) -> list[Any]:
    """ComfyUI's [type, options] of one graphflow input: combos as their choice list, as ComfyUI's nodes.py does."""
    options = {k: field[k] for k in _OPTIONS if k in field}
    if default is not None:
        options["default"] = default
    if field.get("description"):
        options["tooltip"] = field["description"]
    if flag is not None:
        options[flag] = True
    if values is not None:  # e.g. BOOLEAN "add_noise" is the combo ["enable", "disable"] in ComfyUI
        if "default" in options:
            options["default"] = values.to_comfy(options["default"])
        return [values.choices, options]
    if "choices" in field:
        return [list(field["choices"]), options]
    return [field["type"], options]


def _sections(mapping: NodeMap, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The input sections: ComfyUI's inputs in its order, then graphflow-only inputs as optional, last."""
    fields = {mapping.comfy_input(f["name"]): f for f in schema["inputs"]}
    sections: dict[str, dict[str, Any]] = {"required": {}, "optional": {}}
    for section, names in (("required", mapping.inputs), ("optional", mapping.optional)):
        for name in names:
            if name in mapping.ignored:
                default = mapping.ignored[name]  # a ComfyUI-only INT, or a combo shown with its default alone
                sections[section][name] = [[default] if isinstance(default, str) else "INT", {"default": default}]
            elif name in fields:
                option = mapping.widget_option(name)
                flag = _WIDGET_FLAGS[option] if option else None
                default = mapping.defaults.get(mapping.graphflow_input(name))
                sections[section][name] = _definition(fields[name], mapping.values.get(name), flag, default)
    listed = set(mapping.comfy_inputs) | mapping.derived
    for name, field in fields.items():
        if name not in listed:
            default = mapping.defaults.get(mapping.graphflow_input(name))
            sections["optional"][name] = _definition(field, None, None, default)
    if mapping.hidden:
        sections["hidden"] = dict(mapping.hidden)
    return {key: value for key, value in sections.items() if value or key == "required"}


def node_info(mapping: NodeMap, schema: dict[str, Any]) -> dict[str, Any]:
    """One node type as ComfyUI's /object_info describes it (input order and node facts from the mapping table)."""
    inputs = _sections(mapping, schema)
    outputs = {o["name"]: o["type"] for o in schema["outputs"]}
    types = [outputs.get(name, "*") for name in mapping.outputs]
    return {
        "input": inputs,
        "input_order": {section: list(entries) for section, entries in inputs.items()},
        "is_input_list": False,
        "output": types,
        "output_is_list": [False] * len(types),
        "output_name": list(mapping.output_names) or types,
        "name": mapping.comfy,
        "display_name": mapping.display_name or mapping.comfy,
        "description": mapping.description,
        "python_module": mapping.python_module,
        "category": mapping.category or schema["category"],
        "output_node": schema["output_node"],
        "deprecated": mapping.deprecated,
        "experimental": False,
        "api_node": False,
    }


def _load_image_mask(load_image: dict[str, Any]) -> dict[str, Any]:
    """LoadImageMask (no graphflow node of its own): LoadImage's image list plus a channel."""
    image = load_image["input"]["required"]["image"]
    return {
        **load_image,
        "input": {"required": {"image": image, "channel": [["alpha", "red", "green", "blue"], {}]}},
        "input_order": {"required": ["image", "channel"]},
        "output": ["MASK"],
        "output_is_list": [False],
        "output_name": ["MASK"],
        "name": LOAD_IMAGE_MASK,
        "display_name": "Load Image (as Mask)",
        "description": "",
        "category": "mask",
    }


def object_info(registry: Registry, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every mapped ComfyUI node type whose graphflow node is installed, in /object_info's shape (choice lists
    as `settings` give them)."""
    info = {
        name: node_info(m, registry.schema(m.target, settings))
        for name, m in NODE_MAPS.items()
        if registry.get(m.target) is not None
    }
    if "LoadImage" in info:
        info[LOAD_IMAGE_MASK] = _load_image_mask(info["LoadImage"])
    return info


def _dependent_outputs(workflow: Workflow, registry: Registry, node_id: str) -> list[str]:
    outputs = []
    for candidate, entry in workflow.nodes.items():
        spec = registry.get(entry.type)
        if spec is None or not spec.is_output:
            continue
        seen, stack = set(), [candidate]
        while stack:
            current = stack.pop()
            if current == node_id:
                outputs.append(owner_of(candidate))
                break
            if current in seen or current not in workflow.nodes:
                continue
            seen.add(current)
            stack.extend(link.node for link in workflow.nodes[current].links.values())
    return outputs


def _bound_error(workflow: Workflow, registry: Registry, issue: ValidationIssue) -> tuple[str, str]:
    entry = workflow.nodes[issue.node_id or ""]
    spec = registry.get(entry.type)
    field = spec.inputs.get(issue.input or "") if spec else None
    value = entry.inputs.get(issue.input or "")
    if field is not None and field.min is not None and isinstance(value, (int, float)) and value < field.min:
        return "value_smaller_than_min", "Value smaller than min"
    return "value_bigger_than_max", "Value bigger than max"


def prompt_errors(issues: list[ValidationIssue], workflow: Workflow, registry: Registry) -> dict[str, Any]:
    """The 400 body ComfyUI sends for a prompt that fails validation: {"error": ..., "node_errors": ...}."""
    class_types = recorded(comfy_origin(workflow), "class_types")
    node_errors: dict[str, Any] = {}
    general = []
    for issue in issues:
        if issue.node_id is None or issue.node_id not in workflow.nodes:
            general.append(issue)
            continue
        owner = owner_of(issue.node_id)
        class_type = class_types.get(owner, workflow.nodes[issue.node_id].type)
        mapping = NODE_MAPS.get(class_type)
        input_name = mapping.comfy_input(issue.input) if mapping and issue.input else issue.input
        kind, message = _KINDS.get(issue.kind, ("exception_during_validation", "Exception when validating node"))
        if issue.kind == "out_of_bounds":
            kind, message = _bound_error(workflow, registry, issue)
        entry = node_errors.setdefault(
            owner,
            {
                "errors": [],
                "class_type": class_type,
                "dependent_outputs": _dependent_outputs(workflow, registry, issue.node_id),
            },
        )
        entry["errors"].append(
            {
                "type": kind,
                "message": message,
                "details": f"{input_name}: {issue.message}" if input_name else issue.message,
                "extra_info": {"input_name": input_name},
            }
        )
    error: dict[str, Any]
    if general and not node_errors:
        no_outputs = any(i.kind == "no_output_node" for i in general)
        error = {
            "type": "prompt_no_outputs" if no_outputs else "invalid_prompt",
            "message": "Prompt has no outputs" if no_outputs else "Cannot execute the prompt",
            "details": "; ".join(i.message for i in general),
            "extra_info": {},
        }
    else:
        error = {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "; ".join(i.message for i in general),
            "extra_info": {},
        }
    return {"error": error, "node_errors": node_errors}


def invalid_prompt(message: str, details: str = "", **extra: Any) -> dict[str, Any]:
    """A whole-prompt error body (no per-node errors)."""
    return {
        "error": {"type": "invalid_prompt", "message": message, "details": details, "extra_info": extra},
        "node_errors": {},
    }
