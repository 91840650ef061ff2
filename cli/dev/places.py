"""Where `make run` puts things: its fixed ports and the files it keeps under ``var/``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class DevPorts:
    """The fixed ports of `make run` (Redis takes any free port)."""

    web: int = 8000
    ghl: int = 8010
    crm: int = 8020
    smartoffice: int = 8030
    flower: int = 5555
    # The sandbox mail server: its page and JSON (HTTP), and its SMTP server.
    mail: int = 8040
    smtp: int = 8025

    def by_role(self) -> dict[str, int]:
        """``{"web": 8000, "ghl": 8010, ...}``."""
        return asdict(self)

    @property
    def web_url(self) -> str:
        return f"http://{HOST}:{self.web}"

    @property
    def ghl_url(self) -> str:
        return f"http://{HOST}:{self.ghl}"

    @property
    def crm_url(self) -> str:
        return f"http://{HOST}:{self.crm}"

    @property
    def smartoffice_url(self) -> str:
        return f"http://{HOST}:{self.smartoffice}"

    @property
    def flower_url(self) -> str:
        return f"http://{HOST}:{self.flower}"

    @property
    def mail_url(self) -> str:
        return f"http://{HOST}:{self.mail}"


@dataclass(frozen=True)
class DevPaths:
    """The files `make run` keeps under ``root/var/``."""

    root: Path

    @classmethod
    def under(cls, root: Path) -> DevPaths:
        """The paths for the project folder ``root`` (made absolute)."""
        return cls(Path(root).resolve())

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def secret_key(self) -> Path:
        return self.var / "secret_key"

    @property
    def flower_password(self) -> Path:
        return self.var / "flower_password"

    @property
    def database(self) -> Path:
        return self.var / "socialbridge.db"

    @property
    def database_url(self) -> str:
        """``sqlite:///`` and the absolute path, so every child finds the same file."""
        return f"sqlite:///{self.database}"

    @property
    def redis_dir(self) -> Path:
        return self.var / "redis"

    @property
    def env_file(self) -> Path:
        return self.var / "socialbridge.env"

    @property
    def sandbox_crm_dir(self) -> Path:
        """Where the sandbox CRM keeps what it stored, so a restart still knows its writes."""
        return self.var / "sandbox-crm"

    @property
    def sandbox_smartoffice_dir(self) -> Path:
        """Where the SmartOffice sandbox keeps its contacts and SmartPads across restarts."""
        return self.var / "sandbox-smartoffice"

    @property
    def sandbox_mail_dir(self) -> Path:
        """Where the sandbox mail server keeps the messages it took across restarts."""
        return self.var / "sandbox-mail"
