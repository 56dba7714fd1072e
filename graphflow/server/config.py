"""Settings of one server instance: address, token, its user folder and limits, and the run settings it owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graphflow.resources import examples_folder, web_folder
from graphflow.settings import Settings

DEFAULT_PORT = 8188
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class ServerConfig:
    """Everything `create_app` needs; folders are created on startup when missing.

    `settings` are the folders, device and limits every run of this server uses; nothing is read from
    or written to the process environment, so two servers in one process stay apart.
    """

    settings: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    user_dir: Path = Path("user")
    db_path: Path | None = None
    plugins_dir: Path | None = None
    entry_points: bool = True
    web_dir: Path = field(default_factory=web_folder)
    examples_dir: Path = field(default_factory=examples_folder)
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    preview_max_side: int = 512

    def __post_init__(self) -> None:
        for name in ("user_dir", "db_path", "plugins_dir", "web_dir", "examples_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))

    @property
    def database(self) -> Path:
        """The SQLite file holding the queue and history."""
        return self.db_path if self.db_path is not None else self.user_dir / "graphflow.db"

    @property
    def user_workflows_dir(self) -> Path:
        """The read-write workflows folder."""
        return self.user_dir / "workflows"
