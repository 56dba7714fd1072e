"""Super-resolution models (ESRGAN/RRDBNet, Real-ESRGAN compact): detection, loading, tiled inference."""

from .detect import build, detect
from .load import load_upscale_model
from .model import UpscaleModel
from .spec import NotAnUpscaleModelError, UpscaleSpec

__all__ = ["NotAnUpscaleModelError", "UpscaleModel", "UpscaleSpec", "build", "detect", "load_upscale_model"]
