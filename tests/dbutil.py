"""Throw-away databases for tests: a SQLite file always, PostgreSQL when TEST_DATABASE_URL is set.

    @pytest.fixture(params=database_params())
    def database(request, tmp_path):
        with temporary_database(request.param, tmp_path, upgrade=True) as (url, engine_options):
            yield url, engine_options

Without TEST_DATABASE_URL only SQLite is used. For PostgreSQL every call gets a fresh schema
``sbtest_<random>``, dropped afterwards. The schema is selected with libpq's ``options`` both
in the URL and in ``engine_options``, so the URL alone also works for a subprocess that is
given it as DATABASE_URL.

Migrating takes a moment: with many tests, a session-scoped database emptied by
``clear_database`` before each test is quicker than a new one per test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text

from store import migrate
from store.engine import make_engine, normalise_url
from store.models import Base

TEST_DATABASE_URL = "TEST_DATABASE_URL"
SQLITE = "sqlite"
POSTGRESQL = "postgresql"

Database = tuple[str, dict[str, Any]]
"""(database_url, engine_options), as ``Store`` and ``store.migrate`` take them."""


def postgresql_url() -> str | None:
    """The PostgreSQL server the tests may use (TEST_DATABASE_URL), or None."""
    return os.environ.get(TEST_DATABASE_URL) or None


def database_kinds() -> list[str]:
    """The kinds of database available here: SQLite, and PostgreSQL when configured."""
    return [SQLITE, POSTGRESQL] if postgresql_url() else [SQLITE]


def database_params() -> list[Any]:
    """pytest params over the available kinds, PostgreSQL marked ``postgres``.

    PostgreSQL is left out, rather than skipped test by test, when TEST_DATABASE_URL is unset.
    """
    return [
        pytest.param(kind, id=kind, marks=[pytest.mark.postgres] if kind == POSTGRESQL else [])
        for kind in database_kinds()
    ]


def database_urls(tmp_path: Path) -> dict[str, str]:
    """The URL each available kind would get under ``tmp_path`` (PostgreSQL: the server's own,
    without a private schema; use ``temporary_database`` to get one)."""
    urls = {SQLITE: sqlite_url(tmp_path)}
    server = postgresql_url()
    if server:
        urls[POSTGRESQL] = server
    return urls


def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL under ``tmp_path`` (its folder is created on first connect)."""
    return f"sqlite:///{tmp_path / 'var' / 'socialbridge.db'}"


@contextmanager
def temporary_database(kind: str, tmp_path: Path, *, upgrade: bool = False) -> Iterator[Database]:
    """``(database_url, engine_options)`` of an empty database of ``kind``, removed afterwards.

    ``upgrade=True`` runs the migrations first. PostgreSQL needs TEST_DATABASE_URL (the test
    is skipped without it).
    """
    if kind == SQLITE:
        database = _sqlite_database(tmp_path)
    elif kind == POSTGRESQL:
        database = _postgresql_database()
    else:
        raise ValueError(f"unknown database kind {kind!r}")
    with database as (url, engine_options):
        if upgrade:
            migrate.upgrade(url, engine_options=engine_options)
        yield url, engine_options


def clear_database(database_url: str, engine_options: dict[str, Any] | None = None) -> None:
    """Delete every row of the store's tables, keeping the schema (cheaper than a new one)."""
    engine = make_engine(database_url, engine_options)
    try:
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
    finally:
        engine.dispose()


@contextmanager
def _sqlite_database(tmp_path: Path) -> Iterator[Database]:
    yield sqlite_url(tmp_path), {}  # tmp_path is pytest's to remove


@contextmanager
def _postgresql_database() -> Iterator[Database]:
    server = postgresql_url()
    if server is None:
        pytest.skip(f"{TEST_DATABASE_URL} is not set")
    schema = f"sbtest_{secrets.token_hex(6)}"
    search_path = f"-csearch_path={schema}"
    url = normalise_url(server).update_query_dict({"options": search_path})
    admin = create_engine(normalise_url(server))
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield (
                url.render_as_string(hide_password=False),
                {"connect_args": {"options": search_path}},
            )
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
