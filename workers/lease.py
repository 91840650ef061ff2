"""Keeping a running attempt's lease alive, so that a dead attempt is seen within seconds.

The attempt holds a lease in the store (``events.lease_expires_at``); a daemon thread renews
it every third of ``LEASE_SECONDS`` while the flow runs. When the worker process dies
(SIGKILL, the hard time limit, a lost broker connection that cancels the task), renewals stop
and the recovery sweep enqueues the event again once the lease has run out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from socialbridge.logs import get_logger

log = get_logger(__name__)


class LeaseKeeper:
    """Call ``renew`` every ``every`` seconds from a daemon thread until the block ends.

    ``renew`` answers False when the attempt lost the event (the sweep gave it to another
    attempt); the keeper then stops renewing. Errors (the database briefly down) are logged
    and the next renewal is tried as usual: the lease is long enough to miss one or two.
    """

    def __init__(self, renew: Callable[[], bool], every: float) -> None:
        self._renew = renew
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                owned = self._renew()
            except Exception as exc:  # the store raises several kinds; all mean "not now"
                log.warning("lease.renew_failed", error=repr(exc))
                continue
            if not owned:
                log.warning("lease.lost")
                return
