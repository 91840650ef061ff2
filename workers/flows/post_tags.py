"""`post.published`: the location's tags (and the GHL post's own tags) onto the CRM post record."""

from __future__ import annotations

from typing import Any

from schemas.events import PostPublished
from schemas.ghl import Tag
from store import PostRecord
from workers.flows.context import FlowContext

WRITEBACK = "post.tags_synced"


def sync_post_tags(ctx: FlowContext, event: PostPublished) -> PostRecord:
    """Fetch every page of the location's tags, resolve the post's tags, store and write back."""
    location_id = ctx.location_for(event.location_id)
    tags = ctx.ghl.list_tags(location_id)
    ctx.progress(f"fetched {len(tags)} tags of location {location_id}")
    by_id: dict[str, Tag] = {tag.id: tag for tag in tags}

    post_tags: list[dict[str, Any]] = []
    if event.ghl_post_id is not None:
        post = ctx.ghl.get_post(location_id, event.ghl_post_id)
        # A post can carry a tag the listing has not caught up with yet: ask for it by id.
        missing = [tag_id for tag_id in post.tag_ids if tag_id not in by_id]
        if missing:
            by_id.update({tag.id: tag for tag in ctx.ghl.tag_details(location_id, missing)})
        post_tags = [_brief(by_id[tag_id]) for tag_id in post.tag_ids if tag_id in by_id]
        ctx.progress(f"post {event.ghl_post_id} carries {len(post_tags)} tags")

    brief_tags = [_brief(tag) for tag in tags]
    record = ctx.store.save_post_tags(
        connection_id=ctx.connection.id,
        crm_post_id=event.post_id,
        location_id=location_id,
        tags=brief_tags,
        post_tags=post_tags,
        ghl_post_id=event.ghl_post_id,
        title=event.title,
    )
    ctx.write_back(
        WRITEBACK,
        {
            "post_id": event.post_id,
            "location_id": location_id,
            "ghl_post_id": event.ghl_post_id,
            "tags": brief_tags,
            "post_tags": post_tags,
            "synced_at": ctx.now.isoformat(),
        },
        event.record,
        about=f"for CRM post {event.post_id}",
    )
    return record


def _brief(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name}
