"""Alembic, driven from Python: there is no alembic.ini, the configuration is built here.

    upgrade(settings.database_url)        # what `socialbridge db upgrade` runs

The migration scripts are in the ``migrations`` folder next to this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from socialbridge.logs import get_logger
from store.engine import make_engine

log = get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the store's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(
    database_url: str,
    revision: str = "head",
    *,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Bring the schema at ``database_url`` up to ``revision`` (creating it when empty)."""
    with _configured(database_url, engine_options) as config:
        command.upgrade(config, revision)
    log.info("store.upgraded", revision=revision)


def downgrade(
    database_url: str,
    revision: str,
    *,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Take the schema at ``database_url`` back to ``revision`` (``base``: no tables)."""
    with _configured(database_url, engine_options) as config:
        command.downgrade(config, revision)
    log.info("store.downgraded", revision=revision)


def new_revision(
    database_url: str, message: str, *, engine_options: Mapping[str, Any] | None = None
) -> None:
    """Write a new migration script from the difference between the models and the database
    at ``database_url`` (which must be at head). Review it before committing: autogenerate
    misses renames and data changes."""
    with _configured(database_url, engine_options) as config:
        command.revision(config, message=message, autogenerate=True)


def current_revision(
    database_url: str, *, engine_options: Mapping[str, Any] | None = None
) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(database_url, engine_options)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise RuntimeError("no migration scripts found")
    return head


@contextmanager
def _configured(database_url: str, engine_options: Mapping[str, Any] | None) -> Iterator[Config]:
    # The engine is built by our own factory (URL clean-up, SQLite pragmas, engine options
    # such as a PostgreSQL search_path) and handed to env.py as an open connection; the URL
    # never goes through the configuration file parser, which would choke on "%" in passwords.
    engine = make_engine(database_url, engine_options)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # A batch migration drops and re-creates a table; with foreign keys on, SQLite
                # would run ON DELETE CASCADE and empty the tables that refer to it. The pragma
                # only works outside a transaction, hence before Alembic begins its own.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            config = alembic_config()
            config.attributes["connection"] = connection
            yield config
    finally:
        engine.dispose()
