"""Every entry of the ComfyUI mapping table agrees with itself and with the graphflow node it names."""

from __future__ import annotations

import pytest

from graphflow.interop.comfy_nodes import NODE_MAPS, UI_ONLY, NodeMap

MAPS = sorted(NODE_MAPS)


def _spec(plugins, mapping: NodeMap):
    spec = plugins.registry.get(mapping.target)
    assert spec is not None, f"{mapping.comfy}: graphflow node {mapping.target!r} is not registered"
    return spec


@pytest.mark.parametrize("name", MAPS)
def test_every_comfyui_input_has_a_graphflow_input_or_is_ignored(plugins, name):
    mapping = NODE_MAPS[name]
    spec = _spec(plugins, mapping)
    for comfy in mapping.comfy_inputs:
        assert comfy in mapping.ignored or mapping.graphflow_input(comfy) in spec.inputs, f"{name}.{comfy}"
    assert set(mapping.renames) | set(mapping.values) <= set(mapping.comfy_inputs), name
    assert set(mapping.defaults) | mapping.derived <= set(spec.inputs), name


@pytest.mark.parametrize("name", MAPS)
def test_widgets_follow_the_input_order_and_links_are_never_widgets(plugins, name):
    mapping = NODE_MAPS[name]
    spec = _spec(plugins, mapping)
    widgets = [w for w in mapping.widgets if w not in UI_ONLY]
    assert widgets == [n for n in mapping.comfy_inputs if n in widgets], f"{name}: widgets out of ComfyUI's order"
    for before, entry in zip((None, *mapping.widgets), mapping.widgets, strict=False):
        assert entry not in UI_ONLY or before not in (None, *UI_ONLY), f"{name}: a UI-only widget follows no widget"
    for comfy in mapping.comfy_inputs:
        if comfy in mapping.ignored:
            continue
        source = spec.inputs[mapping.graphflow_input(comfy)].source
        if comfy in widgets:
            assert source != "link", f"{name}.{comfy} is a widget in ComfyUI but a link-only input in graphflow"
        else:
            assert source == "link", f"{name}.{comfy} is a socket in ComfyUI; list it in `widgets` if it is a widget"


@pytest.mark.parametrize("name", MAPS)
def test_outputs_name_graphflow_outputs(plugins, name):
    mapping = NODE_MAPS[name]
    spec = _spec(plugins, mapping)
    assert set(mapping.outputs) <= set(spec.outputs), name
    assert not mapping.output_names or len(mapping.output_names) == len(mapping.outputs), name
