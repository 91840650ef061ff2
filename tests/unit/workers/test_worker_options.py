"""The worker's pool and concurrency: WORKER_POOL / WORKER_CONCURRENCY, and the command line's
`--pool` / `--concurrency` over them."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.concurrency import get_implementation
from celery.concurrency.thread import TaskPool as ThreadPool
from sqlalchemy.pool import QueuePool

from socialbridge.config import Settings
from store.engine import SPARE_CONNECTIONS
from workers.celery_app import make_celery
from workers.prefork_pool import PreforkPool
from workers.services import Services
from workers.worker_options import command_line_overrides

CELERY = ["celery", "-A", "workers"]
POOL, SIZE = "worker_pool", "worker_concurrency"


def settings(**values: object) -> Settings:
    return Settings.from_mapping({"secret_key": "k" * 43, **values})


def test_the_app_runs_the_threads_pool_with_32_threads_by_default() -> None:
    app = make_celery(settings())
    assert get_implementation(app.conf.worker_pool) is ThreadPool
    assert app.conf.worker_concurrency == 32


def test_the_app_runs_prefork_and_the_concurrency_the_settings_name() -> None:
    app = make_celery(settings(worker_pool="prefork", worker_concurrency=3))
    assert get_implementation(app.conf.worker_pool) is PreforkPool
    assert app.conf.worker_concurrency == 3


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([*CELERY, "worker", "--pool", "prefork"], {"worker_pool": "prefork"}),
        ([*CELERY, "worker", "--pool=threads"], {"worker_pool": "threads"}),
        ([*CELERY, "worker", "-P", "prefork", "-c", "2"], {POOL: "prefork", SIZE: 2}),
        ([*CELERY, "worker", "-Pthreads", "--concurrency=16"], {POOL: "threads", SIZE: 16}),
        ([*CELERY, "worker", "-c", "1", "--concurrency", "4"], {SIZE: 4}),
        ([*CELERY, "worker", "--loglevel", "INFO", "--queues", "socialbridge"], {}),
        # Pools we do not configure are Celery's to run or refuse.
        ([*CELERY, "worker", "--pool", "solo"], {}),
        ([*CELERY, "beat", "--loglevel", "INFO"], {}),
        ([*CELERY, "worker", "--pool"], {}),
    ],
)  # fmt: skip
def test_the_command_line_names_the_pool_and_concurrency(
    argv: list[str], expected: dict[str, object]
) -> None:
    assert command_line_overrides(argv) == expected


def test_an_explicit_prefork_on_the_command_line_wins_over_the_threads_default() -> None:
    # Celery alone would run the configured pool (threads) for `--pool prefork`.
    chosen = settings().replace(**command_line_overrides([*CELERY, "worker", "--pool", "prefork"]))
    app = make_celery(chosen)
    assert get_implementation(app.conf.worker_pool) is PreforkPool


@pytest.mark.parametrize(("pool", "threads"), [("threads", 32), ("prefork", 1)])
def test_the_database_pool_has_a_connection_for_every_task_thread(
    tmp_path: Path, pool: str, threads: int
) -> None:
    services = Services(settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", worker_pool=pool))
    try:
        assert services.task_threads == threads
        engine = services.store._database.engine
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == threads + SPARE_CONNECTIONS
    finally:
        services.dispose()
