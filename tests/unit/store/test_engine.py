from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from store.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, normalise_url


@pytest.mark.parametrize(
    "url",
    ["postgres://u:p@db:5432/app", "postgresql://u:p@db:5432/app"],
)
def test_postgresql_urls_use_psycopg_3(url: str) -> None:
    normalised = normalise_url(url)
    assert normalised.drivername == "postgresql+psycopg"
    assert normalised.password == "p"
    assert normalised.database == "app"


def test_other_urls_are_kept() -> None:
    assert normalise_url("sqlite:///var/x.db").drivername == "sqlite"
    assert normalise_url("postgresql+psycopg://db/app").drivername == "postgresql+psycopg"


def test_sqlite_folder_is_created_and_set_up_for_several_processes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'deeper' / 'store.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            busy_timeout = connection.execute(text("PRAGMA busy_timeout")).scalar()
            assert busy_timeout == SQLITE_BUSY_TIMEOUT_MS
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
    assert (tmp_path / "var" / "deeper" / "store.db").exists()


def test_in_memory_sqlite_needs_no_folder() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_engine_options_are_passed_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", {"echo": True})
    try:
        assert engine.echo is True
    finally:
        engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_reuse_the_parents_connections(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        parent_pool = engine.pool
        assert isinstance(parent_pool, QueuePool)
        assert parent_pool.checkedin() == 1
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            child_pool = engine.pool
            ok = (
                child_pool is not parent_pool
                and isinstance(child_pool, QueuePool)
                and child_pool.checkedin() == 0
            )
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert engine.pool is parent_pool  # the parent keeps its own
    finally:
        engine.dispose()
