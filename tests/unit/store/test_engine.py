from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from store.engine import (
    SPARE_CONNECTIONS,
    SQLITE_BUSY_TIMEOUT_MS,
    make_engine,
    normalise_url,
    pool_options,
)


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


def test_a_threaded_process_gets_a_connection_per_thread_and_as_many_for_renewals(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    options = pool_options(url, 32)
    assert options["pool_size"] == 32 + SPARE_CONNECTIONS
    assert options["max_overflow"] == 32 + SPARE_CONNECTIONS
    engine = make_engine(url, options)
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 32 + SPARE_CONNECTIONS
    finally:
        engine.dispose()


def test_in_memory_sqlite_keeps_its_single_connection_pool() -> None:
    assert pool_options("sqlite://", 32) == {}
    assert pool_options("sqlite:///:memory:", 32) == {}


def test_sqlite_connections_move_between_threads(tmp_path: Path) -> None:
    # What a threaded worker does: a connection opened by one thread, used by the next.
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}", pool_options("sqlite://x", 4))
    results: list[object] = []

    def use() -> None:
        with engine.connect() as connection:
            results.append(connection.execute(text("SELECT 1")).scalar())

    try:
        first = threading.Thread(target=use)
        first.start()
        first.join()
        second = threading.Thread(target=use)
        second.start()
        second.join()
    finally:
        engine.dispose()
    assert results == [1, 1]
