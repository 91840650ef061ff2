"""A worker's `--pool` and `--concurrency`, read from its command line before Celery does.

WORKER_POOL and WORKER_CONCURRENCY choose the worker's pool and its size (workers/celery_app.py).
A command line that names them must still win, as it does for every other option; but Celery
reads an explicit ``--pool prefork`` as its default and lets the configured pool win over it
(celery/bin/worker.py, ``WorkersPool.convert``), so ``celery -A workers worker --pool prefork``
would run threads. `workers/celery.py` therefore applies what the command line says to the
settings before building the app: the pool Celery runs and the one the settings describe (which
size the database pool, workers/services.py) are then the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from socialbridge.config import WORKER_POOLS

_POOL = ("--pool", "-P")
_CONCURRENCY = ("--concurrency", "-c")


def command_line_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """``worker_pool`` / ``worker_concurrency`` as a `celery … worker` command line sets them.

    Empty for any other command (beat, flower) and for a pool we do not run (Celery refuses
    it itself). Forms: ``--pool threads``, ``--pool=threads``, ``-P threads``, ``-Pthreads``,
    and the same for ``--concurrency`` / ``-c``.
    """
    args = list(argv)
    if "worker" not in args:
        return {}
    args = args[args.index("worker") + 1 :]
    overrides: dict[str, Any] = {}
    pool = _value(args, _POOL)
    if pool in WORKER_POOLS:
        overrides["worker_pool"] = pool
    concurrency = _value(args, _CONCURRENCY)
    if concurrency is not None and concurrency.isdigit():
        overrides["worker_concurrency"] = int(concurrency)
    return overrides


def _value(args: Sequence[str], names: tuple[str, str]) -> str | None:
    """The last value given to the option ``names`` (long, short), as click takes it."""
    long, short = names
    found: str | None = None
    for index, arg in enumerate(args):
        if arg in names:
            if index + 1 < len(args):
                found = args[index + 1]
        elif arg.startswith(f"{long}="):
            found = arg.partition("=")[2]
        elif arg.startswith(short) and not arg.startswith("--") and len(arg) > len(short):
            found = arg[len(short) :].removeprefix("=")
    return found
