"""The prefork pool, registered with the event loop again as the consumer does after a
reconnect, while it still lists a process whose exit the loop has seen.

The state is the one Celery's event loop leaves when a pool process dies and the kernel has
not reported its exit status yet: the loop stops watching the process (Celery's own
``_untrack_child_process``) and the pool keeps it until its next maintenance. Here the
process is alive, so the pool keeps it for certain. Celery's stock pool must still fail
(when it no longer does, the workaround can go); ours registers the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import click
import pytest
from celery.bin.worker import WorkersPool
from celery.concurrency import get_implementation
from celery.concurrency.asynpool import AsynPool
from kombu.asynchronous import Hub

from socialbridge.config import Settings
from workers.celery_app import make_celery
from workers.prefork_pool import PreforkPool, ReconnectSafeAsynPool


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub()
    yield hub
    hub.close()


def pool_with_an_unwatched_process(pool_class: type[AsynPool], hub: Hub) -> AsynPool:
    pool = pool_class(processes=2, threads=False)
    pool.register_with_event_loop(hub)
    gone = pool._pool[0]
    pool._untrack_child_process(gone, hub)
    assert gone in pool._pool
    return pool


def test_stock_pool_fails_to_register_again(hub: Hub) -> None:
    pool = pool_with_an_unwatched_process(AsynPool, hub)
    try:
        with pytest.raises(ValueError, match="file descriptor is None"):
            pool.register_with_event_loop(hub)
    finally:
        pool.terminate()


def test_ours_registers_again_and_watches_the_other_processes(hub: Hub) -> None:
    pool = pool_with_an_unwatched_process(ReconnectSafeAsynPool, hub)
    try:
        pool.register_with_event_loop(hub)

        gone, alive = pool._pool
        assert gone._sentinel_poll is None
        assert alive._sentinel_poll in hub.readers  # its exit will be seen
    finally:
        pool.terminate()


def test_celery_uses_it_also_when_the_command_line_names_prefork() -> None:
    app = make_celery(Settings.from_mapping({"secret_key": "k" * 43, "worker_pool": "prefork"}))
    # What `celery -A workers worker --pool prefork` (the default) resolves the pool to.
    context = click.Context(click.Command("worker"), obj=SimpleNamespace(app=app))

    assert WorkersPool().convert("prefork", None, context) is PreforkPool
    assert get_implementation(app.conf.worker_pool) is PreforkPool
