"""Write-backs the IXACT tests send, one builder per type."""

from __future__ import annotations

from typing import Any

from crm.connector import WriteBack

CONTACT = "ann.lee@example.com"
SENDER = "agent@example.com"
KEY = "evt_1.post.tags_synced"


def record(contact: str | None = CONTACT, **more: str) -> dict[str, str]:
    values = {"contact_email": contact} if contact else {}
    return {**values, **more}


def tags_synced(
    key: str = KEY, contact: str | None = CONTACT, *, title: str | None = None, **data: Any
) -> WriteBack:
    extra = {"title": title} if title is not None else {}
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
        record=record(contact, **extra),
    )


def tag_details(key: str = "evt_3.post.tag_details_attached", **data: Any) -> WriteBack:
    return WriteBack(
        type="post.tag_details_attached",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tag_ids": ["t1", "t2", "t9"],
            "tags": [
                {
                    "_id": "t1",
                    "tag": "Listing",
                    "createdAt": "2026-01-02T03:04:05Z",
                    "createdBy": "user-7",
                },
                {"_id": "t2", "tag": "Spring", "deleted": True},
            ],
            "missing_tag_ids": ["t9"],
            "synced_at": "2026-11-23T10:00:05Z",
            **data,
        },
        record=record(),
    )


def statistics(
    contact: str | None = None, key: str = "evt_2.location.statistics_synced"
) -> WriteBack:
    return WriteBack(
        type="location.statistics_synced",
        idempotency_key=key,
        data={
            "location_id": "loc-1",
            "start_date": "2026-11-16",
            "end_date": "2026-11-22",
            "profile_ids": ["p1", "p2"],
            "totals": {"posts": 3, "likes": 508},
            "platforms": {"facebook": {"posts": 2, "likes": 500}, "instagram": {"posts": 1}},
            "daily": {"day_range": ["2026-11-16"], "posts": [3]},
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record=record(contact),
    )
