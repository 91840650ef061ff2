"""Write-backs the SmartOffice tests send, one builder per type used."""

from __future__ import annotations

from typing import Any

from crm.connector import WriteBack

CONTACT = "Contact.1.31"
KEY = "evt_1.post.tags_synced"


def tags_synced(key: str = KEY, contact: str | None = CONTACT, **data: Any) -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "ghl_post_id": "ghl-9",
            "tags": [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Spring"}],
            "post_tags": [{"id": "t1", "name": "Listing"}],
            "synced_at": "2026-11-23T10:00:05Z",
            **data,
        },
        record={"contact_id": contact} if contact else {},
    )


def statistics(contact: str | None = None) -> WriteBack:
    return WriteBack(
        type="location.statistics_synced",
        idempotency_key="evt_2.location.statistics_synced",
        data={
            "location_id": "loc-1",
            "start_date": "2026-11-16",
            "end_date": "2026-11-22",
            "profile_ids": ["p1"],
            "totals": {"posts": 3},
            "platforms": {"facebook": {"posts": 3}},
            "daily": {"day_range": ["2026-11-16"], "posts": [3]},
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record={"contact_id": contact} if contact else {},
    )
