"""Image nodes: load from the input folder, save PNGs that carry their workflow, preview."""

from typing import Any, NamedTuple

import torch
from PIL import Image, UnidentifiedImageError

from graphflow.api import IMAGE, MASK, STRING, Context, Input, Output, Settings, hookimpl, node
from graphflow.imaging.images import image_to_pils, pil_to_image_and_mask, save_png
from graphflow.imaging.masks import to_image
from graphflow.inputs import list_input_images, resolve_input_image
from graphflow.limits import check_pixels
from graphflow.models.cache import file_identity

_SAMPLERS = ("graphflow.sampling.sample", "graphflow.sampling.sample_advanced")


class LoadedImage(NamedTuple):
    """What Load Image gives."""

    pixels: torch.Tensor
    mask: torch.Tensor


@node("graphflow.image.load", version="1.0.0", title="Load Image", category="image")
class LoadImage:
    """Load an image from the input folder (or the example inputs); its alpha becomes a MASK (1 where transparent)."""

    image = Input(STRING, choices=list_input_images, source="literal", widget="image_upload")
    pixels = Output(IMAGE)
    mask = Output(MASK)

    @staticmethod
    def fingerprint(settings: Settings, image: str | None = None, **_: Any) -> Any:
        """The file's identity, so an edited file is read again."""
        return file_identity(resolve_input_image(settings, image)) if image else None

    def run(self, ctx: Context, image: str) -> LoadedImage:
        path = resolve_input_image(ctx.settings, image)
        try:
            with Image.open(path) as picture:
                check_pixels(ctx.settings, *picture.size)  # from the header, before the pixels are decoded
                return LoadedImage(*pil_to_image_and_mask(picture))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{image!r} is not a readable image: {exc}") from None


def _save(ctx: Context, images: torch.Tensor, prefix: str, temporary: bool, key: str = "images") -> None:
    parameters = describe_generation(ctx.workflow, ctx.node_id)
    for picture in image_to_pils(images):
        path = ctx.output_file(prefix, ".png", temporary=temporary)
        save_png(picture, path, ctx.workflow, parameters, compress_level=1 if temporary else 4)
        ctx.add_ui(key, ctx.file_ref(path, temporary=temporary))


@node("graphflow.image.save", version="1.0.0", title="Save Image", category="image", output=True, cacheable=False)
class SaveImage:
    """Save images as numbered PNGs in the output folder; each carries its workflow and generation parameters."""

    images = Input(IMAGE)
    filename_prefix = Input(STRING, default="graphflow", source="literal")

    def run(self, ctx: Context, images: torch.Tensor, filename_prefix: str) -> None:
        _save(ctx, images, filename_prefix, temporary=False)


@node("graphflow.image.preview", version="1.0.0", title="Preview Image", category="image", output=True, cacheable=False)
class PreviewImage:
    """Show images without keeping them (written to the temporary folder)."""

    images = Input(IMAGE)

    def run(self, ctx: Context, images: torch.Tensor) -> None:
        _save(ctx, images, "preview", temporary=True)


@node("graphflow.mask.preview", version="1.0.0", title="Preview Mask", category="mask", output=True, cacheable=False)
class PreviewMask:
    """Show masks as grey pictures (white = 1) without keeping them (ComfyUI's MaskPreview)."""

    mask = Input(MASK)

    def run(self, ctx: Context, mask: torch.Tensor) -> None:
        if mask.ndim == 2:
            mask = mask[None]
        _save(ctx, to_image(mask.float()), "preview_mask", temporary=True)


@node(
    "graphflow.image.compare", version="1.0.0", title="Compare Images", category="image", output=True, cacheable=False
)
class CompareImages:
    """Show two images for side-by-side comparison, kept in the temporary folder (ComfyUI's ImageCompare).

    The results are attached as `a_images` and `b_images`; either input may be left out.
    """

    image_a = Input(IMAGE, optional=True)
    image_b = Input(IMAGE, optional=True)

    def run(self, ctx: Context, image_a: torch.Tensor | None = None, image_b: torch.Tensor | None = None) -> None:
        for images, key in ((image_a, "a_images"), (image_b, "b_images")):
            if images is not None and len(images) > 0:
                _save(ctx, images, f"compare_{key[0]}", temporary=True, key=key)


def describe_generation(workflow: dict[str, Any], node_id: str) -> str | None:
    """A1111-style parameters of the sampler feeding `node_id`: prompts, steps, sampler, cfg, seed, model."""
    nodes = workflow.get("nodes", {})
    sampler_id = _nearest_upstream(nodes, node_id, _SAMPLERS)
    if sampler_id is None:
        return None
    sampler = nodes[sampler_id]
    values = sampler.get("inputs", {})
    prompt = _upstream_text(nodes, sampler, "positive")
    negative = _upstream_text(nodes, sampler, "negative")
    loader = _nearest_upstream(nodes, sampler_id, ("graphflow.loaders.checkpoint",))
    fields = {
        "Steps": values.get("steps"),
        "Sampler": values.get("sampler_name"),
        "Schedule": values.get("scheduler"),
        "CFG scale": values.get("cfg"),
        "Seed": values.get("seed", values.get("noise_seed")),
        "Denoise": values.get("denoise"),
        "Model": nodes[loader].get("inputs", {}).get("checkpoint") if loader else None,
    }
    details = ", ".join(f"{k}: {v}" for k, v in fields.items() if v is not None)
    return f"{prompt or ''}\nNegative prompt: {negative or ''}\n{details}"


def _nearest_upstream(nodes: dict[str, Any], start: str, types: tuple[str, ...]) -> str | None:
    seen, frontier = {start}, [start]
    while frontier:
        current = frontier.pop(0)
        if current != start and nodes.get(current, {}).get("type") in types:
            return current
        for link in nodes.get(current, {}).get("links", {}).values():
            if link["node"] not in seen:
                seen.add(link["node"])
                frontier.append(link["node"])
    return None


def _upstream_text(nodes: dict[str, Any], sampler: dict[str, Any], input_name: str) -> str | None:
    link = sampler.get("links", {}).get(input_name)
    entry = nodes.get(link["node"], {}) if link else {}
    text = entry.get("inputs", {}).get("text")
    return text if isinstance(text, str) else None


@hookimpl
def register_nodes(register) -> None:
    """Provide the image nodes."""
    for cls in (LoadImage, SaveImage, PreviewImage, PreviewMask, CompareImages):
        register(cls)
