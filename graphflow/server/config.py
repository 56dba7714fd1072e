"""Settings of one server instance: address, token, folders, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import graphflow

DEFAULT_PORT = 8188
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def repo_root() -> Path:
    """The folder that holds the `graphflow` package (the repository root in a checkout)."""
    return Path(graphflow.__file__).resolve().parent.parent


@dataclass
class ServerConfig:
    """Everything `create_app` needs; folders are created on startup when missing."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    output_dir: Path = Path("output")
    input_dir: Path = Path("input")
    user_dir: Path = Path("user")
    temp_dir: Path | None = None
    db_path: Path | None = None
    plugins_dir: Path | None = None
    models_dir: Path | None = None
    entry_points: bool = True
    web_dir: Path = field(default_factory=lambda: repo_root() / "web")
    repo_workflows_dir: Path = field(default_factory=lambda: repo_root() / "workflows")
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_image_pixels: int = 8192 * 8192
    preview_max_side: int = 512

    def __post_init__(self) -> None:
        for name in ("output_dir", "input_dir", "user_dir", "temp_dir", "db_path", "plugins_dir", "models_dir",
                     "web_dir", "repo_workflows_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))

    @property
    def temp_folder(self) -> Path:
        """Where temporary files (previews saved by nodes) go."""
        return self.temp_dir if self.temp_dir is not None else self.user_dir / "temp"

    @property
    def database(self) -> Path:
        """The SQLite file holding the queue and history."""
        return self.db_path if self.db_path is not None else self.user_dir / "graphflow.db"

    @property
    def user_workflows_dir(self) -> Path:
        """The read-write workflows folder."""
        return self.user_dir / "workflows"
