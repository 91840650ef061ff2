"""Keeping a running attempt's lease alive, so that a dead attempt is seen within seconds, and
ending the lease of an attempt that overran TASK_TIME_LIMIT.

The attempt holds a lease in the store (``events.lease_expires_at``); a daemon thread renews
it every third of ``LEASE_SECONDS`` while the flow runs. When the worker process dies
(SIGKILL, the hard time limit, a lost broker connection that cancels the task), renewals stop
and the recovery sweep enqueues the event again once the lease has run out.

Celery's threads pool cannot kill a task, so TASK_TIME_LIMIT is kept here instead, for every
pool: after ``time_limit`` seconds the keeper stops renewing. The lease then runs out, the
sweep gives the event to a new attempt, and this one, should it ever get further, is fenced
off by its attempt number (``Store.owns_attempt``):

- `check_attempt`, called before every write-back to the CRM (`FlowContext.write_back`),
  raises `AttemptOverran` once the attempt is past its time limit or may have lost its
  lease, so that it never writes what the new attempt writes too;
- `LeaseKeeper.still_ours` tells `execute_event` whether it may record the attempt's outcome.

While renewals succeed and the time limit is far, both answer from memory; the store is asked
only near or after the lease's end, so an attempt pays no extra round trip in the usual case.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from types import TracebackType

from socialbridge.errors import RetryableError
from socialbridge.logs import get_logger

log = get_logger(__name__)

# Seconds before the lease's end (by this process's clock) after which the store is asked
# whether the attempt still holds the event: room for clocks of other machines running the
# sweep to be a little ahead.
CLOCK_MARGIN_SECONDS = 2.0


class AttemptOverran(RetryableError):
    """The attempt ran past TASK_TIME_LIMIT, or lost its lease: it may no longer write.

    A retryable failure of the attempt as far as the flow is concerned; `execute_event` then
    finds that the attempt no longer owns the event and records nothing.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, system="socialbridge")


Owned = Callable[[bool], bool]
"""``owned(live_lease)``: whether the attempt still owns the event in the store (still
``processing`` under its task id and attempt number; with ``live_lease``, before its lease's
end too)."""


class LeaseKeeper:
    """Call ``renew`` every ``every`` seconds from a daemon thread until the block ends, or
    until ``time_limit`` seconds have passed since it began.

    ``renew`` answers False when the attempt lost the event (the sweep gave it to another
    attempt); the keeper then stops renewing. Errors (the database briefly down) are logged
    and the next renewal is tried as usual: the lease is long enough to miss one or two.

    ``lease_seconds`` (the lease each renewal gives) and ``owned`` let `check` and
    `still_ours` tell whether the attempt still holds the event; without ``owned`` they trust
    memory alone.
    """

    def __init__(
        self,
        renew: Callable[[], bool],
        every: float,
        *,
        time_limit: float | None = None,
        lease_seconds: float | None = None,
        owned: Owned | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renew = renew
        self._every = every
        self._time_limit = time_limit
        self._lease_seconds = lease_seconds if lease_seconds is not None else every * 3
        self._owned = owned
        self._monotonic = monotonic
        self._stop = threading.Event()
        # The thread runs in a copy of the attempt's context, so that its log lines carry the
        # event's fields (`socialbridge.logs.bind`) as the attempt's own do.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._run,),
            name="lease-keeper",
            daemon=True,
        )
        self._started = monotonic()
        # Monotonic moment the lease ends by the last renewal that succeeded (written by the
        # keeper's thread, read by the attempt's: a float assignment, atomic under the GIL).
        self._held_until = self._started + self._lease_seconds
        self._lost = False
        self._token: contextvars.Token[LeaseKeeper | None] | None = None

    def __enter__(self) -> LeaseKeeper:
        self._started = self._monotonic()
        self._held_until = self._started + self._lease_seconds
        self._thread.start()
        # The attempt's thread (and only it: a context variable) finds its keeper in
        # `check_attempt`, wherever it is in the flow.
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self._stop.set()
        self._thread.join(timeout=self._every + 5)

    @property
    def overran(self) -> bool:
        """Whether the attempt has run for ``time_limit`` seconds."""
        return (
            self._time_limit is not None and self._monotonic() - self._started >= self._time_limit
        )

    def _surely_held(self) -> bool:
        """The lease is ours without asking: never lost, and renewed recently enough."""
        return not self._lost and self._monotonic() < self._held_until - CLOCK_MARGIN_SECONDS

    def check(self) -> None:
        """Raise `AttemptOverran` unless the attempt may still write to the CRM: within its
        time limit, and holding a live lease."""
        if self.overran:
            raise AttemptOverran(
                f"the attempt ran past TASK_TIME_LIMIT ({self._time_limit:g} s); "
                "another attempt runs the event"
            )
        if self._surely_held():
            return
        if self._lost or (self._owned is not None and not self._owned(True)):
            raise AttemptOverran("the attempt lost its lease; another attempt runs the event")

    def still_ours(self) -> bool:
        """Whether the attempt may record its outcome: the event is still its own in the
        store (a lease that ran out but that no sweep took yet still counts)."""
        if self._surely_held() and not self.overran:
            return True
        return self._owned(False) if self._owned is not None else not self._lost

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if self.overran:
                # What the prefork pool's hard kill does to the lease, for every pool: the
                # lease runs out and the sweep gives the event to a new attempt.
                log.warning("lease.time_limit", time_limit_s=self._time_limit)
                return
            before = self._monotonic()
            try:
                owned = self._renew()
            except Exception as exc:  # the store raises several kinds; all mean "not now"
                log.warning("lease.renew_failed", error=repr(exc))
                continue
            if not owned:
                self._lost = True
                log.warning("lease.lost")
                return
            self._held_until = before + self._lease_seconds


_current: contextvars.ContextVar[LeaseKeeper | None] = contextvars.ContextVar(
    "lease_keeper", default=None
)


def check_attempt() -> None:
    """Raise `AttemptOverran` if the running attempt of this thread may no longer write (see
    `LeaseKeeper.check`); nothing outside an attempt (previews, a flow run by a test)."""
    keeper = _current.get()
    if keeper is not None:
        keeper.check()
