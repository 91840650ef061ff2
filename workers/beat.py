"""Beat's scheduler: RedBeat, made to outlive a Redis restart.

`celery beat` exits on any exception that escapes the scheduler's ``tick``, and RedBeat lets
every Redis error escape: a Redis restart of a few seconds used to end beat (and with it the
statistics schedules). `ResilientRedBeatScheduler` keeps RedBeat's behaviour and adds:

- a tick that meets "Redis is away" (refused, reset, timed out, still loading its AOF, a
  read-only replica after a failover) logs ``beat.redis_unavailable`` and asks to be called
  again after a pause of 1 s doubling to ``PAUSE_MAX``; ``beat.redis_back`` once it works;
- a schedule that could not be installed at start (Redis down) is installed by a later tick,
  and installed again after Redis was away (it may have come back without its data);
- RedBeat's lock (one beat sends at a time) taken by the tick, at start and again whenever it
  was lost: it expired while Redis was down longer than ``redbeat_lock_timeout``, or Redis
  came back without it. The lock is only ever tried, never waited for, so a beat that finds
  it held by another is a standby that keeps trying every tick (``beat.standby``);
- a shutdown that releases the lock when Redis answers and does not fail when it does not.

Selected in `workers/celery_app.py` with ``beat_scheduler``.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from celery.signals import beat_init
from redbeat.schedulers import (
    LUA_EXTEND_TO_SCRIPT,
    RedBeatScheduler,
    acquire_distributed_beat_lock,
    get_redis,
)
from redis.lock import Lock

from socialbridge.logs import get_logger

log = get_logger(__name__)

# RedBeat takes its lock in a beat_init handler, blocking: with Redis down at start it fails
# (a traceback, and no lock for RedBeat's tick to extend), and a second beat waits inside the
# handler for as long as the first one lives, never ticking. The tick below takes the lock
# instead, without waiting, and the beat that does not get it stays a ticking standby.
beat_init.disconnect(acquire_distributed_beat_lock)

# What a Redis that is restarting, loading its append-only file or failing over raises.
# BusyLoadingError ("LOADING") is a ConnectionError; ReadOnlyError is what a replica answers a
# write with until the failover completes.
REDIS_AWAY: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)

# What a lock release meets when Redis is away or the lock already ran out.
RELEASE_ERRORS: tuple[type[Exception], ...] = (*REDIS_AWAY, redis.exceptions.LockError)

PAUSE_FIRST = 1.0
# No longer than beat's own loop interval (``beat_max_loop_interval``): beat comes back within
# a few seconds of Redis.
PAUSE_MAX = 5.0


class ResilientRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]  # untyped base
    """RedBeat whose tick survives Redis going away and coming back (see the module)."""

    lock: Lock | None = None

    def __init__(self, app: Celery, *args: Any, **kwargs: Any) -> None:
        # Set before RedBeat's __init__, which calls setup_schedule.
        self._schedule_installed = False
        self._failures = 0
        self._standby = False
        super().__init__(app, *args, **kwargs)

    # -- what beat calls ------------------------------------------------------------------

    def setup_schedule(self) -> None:
        """Install the static entries in Redis, or leave that to a tick if Redis is away."""
        try:
            super().setup_schedule()
        except REDIS_AWAY as error:
            log.warning("beat.redis_unavailable", during="start", error=_describe(error))
            return
        self._schedule_installed = True

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass of RedBeat; on a Redis error, the pause before the next attempt."""
        try:
            if not self._schedule_installed:
                super().setup_schedule()
                self._schedule_installed = True
            if self.lock_key and not self._hold_lock():
                self._recovered()
                return float(self.max_interval)
            interval = float(super().tick(*args, **kwargs))
        except redis.exceptions.LockError as error:
            # RedBeat extends the lock first thing in its tick: refused, the lock is gone.
            self._lose_lock(error)
            return PAUSE_FIRST
        except REDIS_AWAY as error:
            # Redis may come back without its data (no persistence, a failover to a replica
            # that lagged): install the static entries again then. It keeps their last runs.
            self._schedule_installed = False
            return self._pause(error)
        self._recovered()
        return interval

    def close(self) -> None:
        """Release the lock if Redis answers; never fail the shutdown over it."""
        lock, self.lock = self.lock, None
        if lock is not None:
            try:
                if lock.owned():
                    lock.release()
                    log.info("beat.lock_released", lock=self.lock_key)
            except RELEASE_ERRORS as error:
                # Redis is away or the lock expired: it runs out by itself.
                log.warning("beat.lock_not_released", lock=self.lock_key, error=_describe(error))
        super().close()

    # -- the lock -------------------------------------------------------------------------

    def _hold_lock(self) -> bool:
        """True when this beat holds RedBeat's lock (taking it now if it is free)."""
        if self.lock is not None:
            return True
        lock = self._new_lock()
        if not lock.acquire(blocking=False):
            if not self._standby:
                log.info("beat.standby", lock=self.lock_key, retry_every=self.max_interval)
                self._standby = True
            return False
        self.lock = lock
        self._standby = False
        log.info("beat.lock_acquired", lock=self.lock_key)
        return True

    def _new_lock(self) -> Lock:
        # As RedBeat's own beat_init handler builds it: its extend script sets the timeout
        # instead of adding to it.
        client = get_redis(self.app)
        lock: Lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)  # type: ignore[misc]
        return lock

    def _lose_lock(self, error: Exception) -> None:
        log.warning("beat.lock_lost", lock=self.lock_key, error=_describe(error))
        self.lock = None
        # A lock gone before its time may mean Redis lost its data, the entries with it.
        self._schedule_installed = False

    # -- pauses ---------------------------------------------------------------------------

    def _pause(self, error: Exception) -> float:
        self._failures += 1
        pause = min(PAUSE_MAX, PAUSE_FIRST * 2.0 ** (self._failures - 1))
        log.warning(
            "beat.redis_unavailable",
            error=_describe(error),
            failures=self._failures,
            retry_in=pause,
        )
        return pause

    def _recovered(self) -> None:
        if self._failures:
            log.info("beat.redis_back", failures=self._failures)
            self._failures = 0


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
