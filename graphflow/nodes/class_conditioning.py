"""Class conditioning: drive a class-conditional U-Net (one with a class embedding table) by class."""

from collections.abc import Mapping
from typing import NamedTuple

from graphflow.api import CONDITIONING, INT, MODEL, STRING, Context, Input, Output, hookimpl, node
from graphflow.sampling.conditioning import Conditioning, class_conditioning
from graphflow.sampling.model import DiffusionModel


def class_count(model: DiffusionModel) -> int:
    """Entries of the model's class embedding table; a clear error for a model without one."""
    config = model.unet.config
    embed_type = getattr(config, "class_embed_type", None)
    count = getattr(config, "num_class_embeds", None)
    if embed_type is not None:
        raise ValueError(
            f"this {model.family} model's class embedding ({embed_type!r}) takes vectors, not class indices; "
            "it cannot be driven by a class label"
        )
    if not count:
        raise ValueError(
            f"this {model.family} model has no class embedding (num_class_embeds is not set): "
            "condition it on a prompt with Encode Prompt instead"
        )
    return int(count)


def class_names(model: DiffusionModel) -> dict[str, int]:
    """Lower-case class name -> index from the model config's `id2label` or `class_names` (may be empty)."""
    config = model.unet.config
    names: dict[str, int] = {}
    id2label = getattr(config, "id2label", None)
    if isinstance(id2label, Mapping):
        for index, label in id2label.items():
            for synonym in str(label).split(","):  # ImageNet-style "tench, Tinca tinca"
                names.setdefault(synonym.strip().lower(), int(index))
    listed = getattr(config, "class_names", None)
    if isinstance(listed, (list, tuple)):
        for index, label in enumerate(listed):
            names.setdefault(str(label).strip().lower(), index)
    return names


def resolve_class(model: DiffusionModel, class_index: int, class_name: str) -> int:
    """The class index to use: `class_name` looked up in the model's labels when given, else `class_index`."""
    count = class_count(model)
    if class_name.strip():
        names = class_names(model)
        if not names:
            raise ValueError(
                f"class_name {class_name!r} given but this model's config lists no class names; "
                f"give class_index (0 to {count - 1}) instead"
            )
        key = class_name.strip().lower()
        if key not in names:
            sample = ", ".join(sorted(names)[:8])
            raise ValueError(f"unknown class_name {class_name!r}; this model knows e.g. {sample}")
        class_index = names[key]
    if not 0 <= class_index < count:
        raise ValueError(f"class index {class_index} is out of range: this model has classes 0 to {count - 1}")
    return class_index


class ClassConditioningPair(NamedTuple):
    """What Class Conditioning gives."""

    positive: Conditioning
    negative: Conditioning


@node("graphflow.conditioning.class_label", version="1.0.0", title="Class Conditioning", category="conditioning")
class ClassConditioning:
    """Condition a class-conditional model on one class, by index or by name (when the model lists names).

    `negative` carries the null class for classifier-free guidance: `null_class` -1 means the last
    embedding, which class-conditional models trained with guidance reserve for "no class".
    Text cross-attention, if the model has it, gets an all-zero context.
    """

    model = Input(MODEL)
    class_index = Input(INT, default=0, min=0, max=1_000_000)
    class_name = Input(STRING, default="", description="a class name from the model's config; overrides class_index")
    null_class = Input(INT, default=-1, min=-1, max=1_000_000, description="class index of the negative; -1 = last")
    positive = Output(CONDITIONING)
    negative = Output(CONDITIONING)

    def run(
        self, ctx: Context, model: DiffusionModel, class_index: int, class_name: str, null_class: int
    ) -> ClassConditioningPair:
        index = resolve_class(model, class_index, class_name)
        null = class_count(model) - 1 if null_class == -1 else resolve_class(model, null_class, "")
        return ClassConditioningPair(class_conditioning(model, index), class_conditioning(model, null))


@hookimpl
def register_nodes(register) -> None:
    """Provide the class conditioning node."""
    register(ClassConditioning)
