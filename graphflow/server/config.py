"""Settings of one server instance: address, token, its user folder and limits, and the run settings it owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graphflow.resources import examples_folder, web_folder
from graphflow.settings import Settings

DEFAULT_PORT = 8188
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
FRONTENDS = ("graphflow", "comfyui")


@dataclass
class ServerConfig:
    """Everything `create_app` needs; folders are created on startup when missing.

    `settings` are the folders, device and limits every run of this server uses; nothing is read from
    or written to the process environment, so two servers in one process stay apart. `frontend` picks the
    page served at `/`: graphflow's editor (`web_dir`) or ComfyUI's own (`comfyui_dir`, by default the
    installed `comfyui-frontend-package`). Nodes run in `workers` worker processes, or on Ray when `ray` is
    "local", "auto" or a cluster address.
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
    frontend: str = "graphflow"
    comfyui_dir: Path | None = None
    workers: int = 1
    ray: str | None = None
    worker_cpus: float = 1.0
    worker_memory_bytes: int | None = None
    interrupt_grace_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("user_dir", "db_path", "plugins_dir", "web_dir", "examples_dir", "comfyui_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.frontend not in FRONTENDS:
            raise ValueError(f"unknown frontend {self.frontend!r}; choose one of: {', '.join(FRONTENDS)}")
        if self.frontend == "comfyui" and self.comfyui_dir is None:
            from graphflow.server.comfy.frontend import comfyui_frontend_folder

            self.comfyui_dir = comfyui_frontend_folder()

    @property
    def static_dir(self) -> Path:
        """The folder of the page served at `/`: ComfyUI's frontend or graphflow's editor."""
        if self.frontend == "comfyui" and self.comfyui_dir is not None:
            return self.comfyui_dir
        return self.web_dir

    @property
    def comfy_user_dir(self) -> Path:
        """ComfyUI's per-user data (its settings, saved workflows, user.css): ComfyUI's `user/default/`."""
        return self.user_dir / "comfyui"

    @property
    def database(self) -> Path:
        """The SQLite file holding the queue and history."""
        return self.db_path if self.db_path is not None else self.user_dir / "graphflow.db"

    @property
    def user_workflows_dir(self) -> Path:
        """The read-write workflows folder."""
        return self.user_dir / "workflows"
