"""What ComfyUI's server reports, built from graphflow's registry: node definitions (/object_info)
and validation errors in ComfyUI's shape."""

from __future__ import annotations

from typing import Any

from graphflow.graph import ValidationIssue
from graphflow.interop.comfy_api import META_KEY, owner_of
from graphflow.interop.comfy_nodes import CONTROL, LOAD_IMAGE_MASK, NODE_MAPS, UPLOAD, NodeMap
from graphflow.registry import Registry
from graphflow.settings import Settings
from graphflow.workflow import Workflow

SEEDS = ("seed", "noise_seed")
_KINDS = {
    "missing_input": ("required_input_missing", "Required input is missing"),
    "type_mismatch": ("return_type_mismatch", "Return type mismatch between linked nodes"),
    "invalid_literal": ("invalid_input_type", "Failed to convert an input value"),
    "not_in_choices": ("value_not_in_list", "Value not in list"),
    "cycle": ("dependency_cycle", "Dependency cycle detected"),
}


def _definition(field: dict[str, Any], values: Any, control: bool) -> list[Any]:
    options = {k: field[k] for k in ("default", "min", "max", "step", "multiline", "tooltip") if k in field}
    if field.get("description"):
        options["tooltip"] = field["description"]
    if values is not None:  # e.g. BOOLEAN "add_noise" is the combo ["enable", "disable"] in ComfyUI
        if "default" in options:
            options["default"] = values.to_comfy(options["default"])
        return [values.choices, options]
    if "choices" in field:
        return [list(field["choices"]), options]
    if control:
        options["control_after_generate"] = True
    return [field["type"], options]


def node_info(mapping: NodeMap, schema: dict[str, Any]) -> dict[str, Any]:
    """One node type as ComfyUI's /object_info describes it."""
    fields = {mapping.comfy_input(f["name"]): f for f in schema["inputs"] if f["name"] not in mapping.derived}
    widget_order = [w for w in mapping.widgets if w not in (CONTROL, UPLOAD)]
    order = [n for n in fields if n not in widget_order] + [w for w in widget_order if w in fields]
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for name in order:
        field = fields[name]
        control = CONTROL in mapping.widgets and name in SEEDS
        (optional if field.get("optional") else required)[name] = _definition(field, mapping.values.get(name), control)
    for name, default in mapping.ignored.items():
        required[name] = ["INT", {"default": default}]
    outputs = {o["name"]: o["type"] for o in schema["outputs"]}
    types = [outputs.get(name, "*") for name in mapping.outputs]
    info = {
        "input": {"required": required, "optional": optional},
        "input_order": {"required": list(required), "optional": list(optional)},
        "output": types,
        "output_is_list": [False] * len(types),
        "output_name": types,
        "name": mapping.comfy,
        "display_name": schema["title"],
        "description": schema["description"],
        "python_module": "graphflow",
        "category": mapping.category or schema["category"],
        "output_node": schema["output_node"],
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    }
    if UPLOAD in mapping.widgets:
        required["image"][1]["image_upload"] = True
    return info


def object_info(registry: Registry, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every mapped ComfyUI node type whose graphflow node is installed, in /object_info's shape (choice lists
    as `settings` give them)."""
    info = {
        name: node_info(m, registry.schema(m.target, settings))
        for name, m in NODE_MAPS.items()
        if registry.get(m.target) is not None
    }
    if "LoadImage" in info:
        image = info["LoadImage"]["input"]["required"]["image"]
        info[LOAD_IMAGE_MASK] = {
            **info["LoadImage"],
            "name": LOAD_IMAGE_MASK,
            "display_name": "Load Image (as Mask)",
            "input": {"required": {"image": image, "channel": [["alpha", "red", "green", "blue"], {}]}, "optional": {}},
            "input_order": {"required": ["image", "channel"], "optional": []},
            "output": ["MASK"],
            "output_is_list": [False],
            "output_name": ["MASK"],
            "category": "mask",
        }
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
    entry = workflow.nodes[issue.node_id]
    spec = registry.get(entry.type)
    field = spec.inputs.get(issue.input or "") if spec else None
    value = entry.inputs.get(issue.input or "")
    if field is not None and field.min is not None and isinstance(value, (int, float)) and value < field.min:
        return "value_smaller_than_min", "Value smaller than min"
    return "value_bigger_than_max", "Value bigger than max"


def prompt_errors(issues: list[ValidationIssue], workflow: Workflow, registry: Registry) -> dict[str, Any]:
    """The 400 body ComfyUI sends for a prompt that fails validation: {"error": ..., "node_errors": ...}."""
    class_types = (workflow.meta.get(META_KEY) or {}).get("class_types", {})
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
