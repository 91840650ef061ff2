"""`statistics.requested` and the schedules.

accounts -> profileIds -> statistics (batches of 100) -> snapshot -> CRM.

Without dates GHL reports its default period, the last 7 days with today excluded (Version
2021-07-28); with `start_date`/`end_date` the client asks v3 for exactly those days. Either
way the write-back carries the period and GHL's numbers as they came (ints stay ints).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from schemas.events import StatisticsRequested
from schemas.ghl import Statistics, merge_statistics
from store import SnapshotRecord
from workers.flows.context import FlowContext

WRITEBACK = "location.statistics_synced"
# GHL's statistics body allows at most 100 profileIds (v3 spec: maxItems 100).
PROFILE_BATCH = 100
EMPTY = Statistics(day_range=(), totals={}, platforms={}, daily={}, raw={})


def sync_statistics(ctx: FlowContext, event: StatisticsRequested) -> SnapshotRecord:
    """Pull the location's statistics in batches of profiles, keep a snapshot, write it back."""
    location_id = ctx.connection.location_id
    if event.profile_ids is not None:
        profile_ids = list(event.profile_ids)
    else:
        accounts = ctx.ghl.list_accounts(location_id)
        profile_ids = list(dict.fromkeys(a.profile_id for a in accounts if a.profile_id))
        ctx.progress(f"{len(accounts)} accounts, {len(profile_ids)} with a profileId")

    parts = []
    batches = list(_batches(profile_ids, PROFILE_BATCH))
    for number, batch in enumerate(batches, start=1):
        parts.append(
            ctx.ghl.statistics(
                location_id, batch, platforms=event.platforms, date_range=event.date_range
            )
        )
        ctx.progress(f"statistics batch {number}/{len(batches)}: {len(batch)} profiles")
    # No connected account is an answer too: the CRM learns the location has nothing to report.
    stats = merge_statistics(parts) if parts else EMPTY

    start, end = event.date_range or default_range(ctx.today)
    snapshot = ctx.store.save_snapshot(
        connection_id=ctx.connection.id,
        location_id=location_id,
        start_date=start,
        end_date=end,
        profile_ids=profile_ids,
        totals=stats.totals,
        platforms=stats.platforms,
        daily=stats.daily,
        day_range=list(stats.day_range),
    )
    ctx.write_back(
        WRITEBACK,
        {
            "location_id": location_id,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "profile_ids": profile_ids,
            "totals": stats.totals,
            "platforms": stats.platforms,
            "daily": {"day_range": list(stats.day_range), **stats.daily},
            "synced_at": ctx.now.isoformat(),
        },
        event.record,
        about=f"for {start}..{end}",
    )
    return snapshot


def default_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """GHL's default period: the last 7 days, today excluded."""
    return today - dt.timedelta(days=7), today - dt.timedelta(days=1)


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
