"""OAuth access tokens refreshed ahead of their expiry, by beat.

Beat runs `tokens.refresh_due` every minute: every active OAuth connection whose access token
expires within ``GHL_TOKEN_REFRESH_MARGIN`` seconds (600 by default, so ten runs before it
expires) is refreshed through its `TokenKeeper`, soonest expiry first, under the same
single-flight lock as a refresh after a 401. One connection failing is logged and never stops
the others; a grant GHL refuses for good leaves its connection ``needs_reauth``.

The run stops taking new connections before its soft time limit; what is left is due again a
minute later (and a 401 refreshes whatever this misses).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from socialbridge.logs import get_logger
from workers.ghl_tokens import OUTCOME_NEEDS_REAUTH, GrantGone
from workers.services import Services

log = get_logger(__name__)

SOFT_TIME_LIMIT = 50
# Seconds of a run spent starting refreshes. One started just before it usually ends well
# within the soft time limit; one that waits long for a lock another process holds may not,
# and the limit then ends the run (nothing is lost: the lock holder is refreshing it).
BUDGET_SECONDS = 30.0
FAILED = "failed"
LEFT = "left"


def refresh_due_tokens(
    services: Services, *, now: datetime, budget: float = BUDGET_SECONDS
) -> dict[str, int]:
    """Refresh every token due within the margin (for ``budget`` seconds at most); return how
    many ended how: ``refreshed``, ``adopted``, ``not_due``, ``needs_reauth``, ``failed``,
    ``left`` (not reached in time)."""
    store = services.store
    margin = timedelta(seconds=services.settings.ghl_token_refresh_margin)
    due = store.oauth_refresh_due(now + margin)
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + budget
    for position, connection_id in enumerate(due):
        if time.monotonic() > deadline:
            counts[LEFT] = len(due) - position
            break
        try:
            connection = store.get_connection(connection_id)
            if connection is None:
                continue  # removed since the query
            counts[services.token_keeper(connection).refresh_ahead(margin)] += 1
        except GrantGone:
            counts[OUTCOME_NEEDS_REAUTH] += 1  # the keeper logged it with its reason
        except SoftTimeLimitExceeded:
            raise  # the run is over; the rest is due again in a minute
        except Exception as exc:  # one connection must never stop the others
            counts[FAILED] += 1
            log.error(
                "tokens.refresh_failed",
                connection_id=connection_id,
                error=f"{type(exc).__name__}: {exc}",
            )
    if due:
        log.info("tokens.refresh_due", due=len(due), **counts)
    return dict(counts)


# Celery ships no type information (pyproject.toml lets workers.tasks and workers.schedules
# say so once for all their tasks).
@shared_task(bind=True, name="tokens.refresh_due", acks_late=True, soft_time_limit=SOFT_TIME_LIMIT)
def refresh_due(self: Task) -> dict[str, int]:
    services: Services = self.app.services
    return refresh_due_tokens(services, now=datetime.now(UTC))
