"""The prefork pool: Celery's, safe to register with the event loop again after a reconnect.

With Celery 5.7 and kombu 5.7 a Redis restart shortly after a pool process died could end the
worker's main process:

    CRITICAL Unrecoverable error: ValueError('file descriptor is None')
      ... asynpool.py, in _track_child_process ... kombu/utils/compat.py, in fileno

When a pool process dies (killed, out of memory), the event loop sees its sentinel become
readable, stops watching it (``proc._sentinel_poll = None``) and asks the pool to reap it;
the pool reaps only processes whose exit status the kernel already gives, so one that died a
moment earlier stays in the pool's list until the next maintenance, every 5 s. If the broker
connection is lost and comes back in between, the consumer registers the pool with the event
loop again, which watches the sentinel of every process in that list: ``None`` for this one.
kombu 5.7's ``fileno(None)`` raises ValueError, which Celery's
``iterate_file_descriptors_safely`` does not catch (it catches AttributeError, what kombu 5.6
raised there; Celery 5.6 caught neither). The same crash is celery/celery#9250.

`PreforkPool` skips such a process when registering: its exit has been seen already, and the
pool's maintenance reaps it and starts its replacement within 5 s.

Selected in `workers/celery_app.py` with ``worker_pool``; ``--pool prefork`` on the command
line keeps it (Celery uses the configured pool when the default one is named). The worker's
banner then says ``concurrency: N (prefork_pool)``.
"""

from __future__ import annotations

from typing import Any

from celery.concurrency.asynpool import AsynPool
from celery.concurrency.prefork import TaskPool

from socialbridge.logs import get_logger

log = get_logger(__name__)

_UNSET = object()


class ReconnectSafeAsynPool(AsynPool):  # type: ignore[misc]  # Celery ships no types
    """Celery's asynchronous prefork pool that does not watch a process it saw exit."""

    def _track_child_process(self, proc: Any, hub: Any) -> None:
        # No attribute: never watched (Celery makes the descriptor). None: its exit was seen.
        if getattr(proc, "_sentinel_poll", _UNSET) is None:
            log.info("pool.exited_process_not_watched", pid=proc.pid)
            return
        super()._track_child_process(proc, hub)


class PreforkPool(TaskPool):  # type: ignore[misc]  # Celery ships no types
    """Celery's prefork pool with `ReconnectSafeAsynPool` (see the module)."""

    Pool = ReconnectSafeAsynPool
