"""The one module node authors import: the decorator, fields, value types and the run context."""

from graphflow.context import Cancelled, Context
from graphflow.declaration import DeclarationError, Input, NodeSpec, Output, node, spec_of
from graphflow.hookspecs import hookimpl
from graphflow.settings import Settings
from graphflow.types import (
    BOOLEAN,
    CLIP,
    CONDITIONING,
    CONTROL_NET,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MASK,
    MODEL,
    STRING,
    UPSCALE_MODEL,
    VAE,
    ValueType,
    enum_type,
)

__all__ = [
    "BOOLEAN",
    "CLIP",
    "CONDITIONING",
    "CONTROL_NET",
    "FLOAT",
    "IMAGE",
    "INT",
    "LATENT",
    "MASK",
    "MODEL",
    "STRING",
    "UPSCALE_MODEL",
    "VAE",
    "Cancelled",
    "Context",
    "DeclarationError",
    "Input",
    "NodeSpec",
    "Output",
    "Settings",
    "ValueType",
    "enum_type",
    "hookimpl",
    "node",
    "spec_of",
]
