"""The built-in demo model: the shapes world, its prompt checker, the training code and shipped weights."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEMO_MODEL_DIR = WEIGHTS_DIR / "shapes-demo"
CLASS_MODEL_DIR = WEIGHTS_DIR / "shapes-class"
