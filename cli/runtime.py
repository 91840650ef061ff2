"""What every command shares: settings (environment, plus `make run`'s env file), store, Celery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from celery import Celery

from socialbridge.config import ConfigError, Settings
from store import ConnectionRecord, Store
from workers.celery_app import make_celery
from workers.services import Services

# `make run` writes its settings here so commands in another terminal reach the same system.
DEV_ENV_FILE = Path("var") / "socialbridge.env"


class Runtime:
    """Lazily built dependencies of one CLI invocation."""

    def __init__(self, env_file: Path | None = DEV_ENV_FILE) -> None:
        self.env_file = env_file
        self._settings: Settings | None = None
        self._services: Services | None = None
        self._celery: Celery | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env(env_file=self.env_file)
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from exc
        return self._settings

    @property
    def services(self) -> Services:
        if self._services is None:
            try:
                self.settings.require_secret_key()
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from exc
            self._services = Services(self.settings)
        return self._services

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            self._celery = make_celery(self.settings, services=self.services)
        return self._celery

    def connection(self, id_or_name: str) -> ConnectionRecord:
        """The connection named or numbered so, or a usage error listing what exists."""
        found = self.store.find_connection(id_or_name)
        if found is None:
            names = ", ".join(c.name for c in self.store.list_connections()) or "none yet"
            raise click.BadParameter(
                f"no connection {id_or_name!r} (connections: {names})", param_hint="CONNECTION"
            )
        return found

    def close(self) -> None:
        if self._services is not None:
            self._services.dispose()


pass_runtime = click.make_pass_decorator(Runtime)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")(func)
