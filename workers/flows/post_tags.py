"""`post.published`: the location's tags (and the GHL post's own tags) onto the CRM post record.

The location's tag list comes from the tag cache when the context has one
(`workers.tag_cache`): never older than ``TAG_CACHE_TTL``, and listed again once, coalesced,
when the GHL post names a tag the cached list lacks. The write-back says when the list was
fetched from GHL (``tags_fetched_at``).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from schemas.events import PostPublished
from schemas.ghl import Post, Tag
from store import PostRecord
from workers.flows.context import FlowContext
from workers.tag_cache import OUTCOME_HIT, OUTCOME_OFF, OUTCOME_SHARED, CachedTags

WRITEBACK = "post.tags_synced"


def sync_post_tags(ctx: FlowContext, event: PostPublished) -> PostRecord:
    """Read the GHL post (if named), the location's tags, resolve the post's, store and write
    back."""
    location_id = ctx.location_for(event.location_id)
    # The post first: the tag ids it names decide whether a cached list will do.
    post: Post | None = None
    if event.ghl_post_id is not None:
        post = ctx.ghl.get_post(location_id, event.ghl_post_id)
    listing = location_tags(ctx, location_id, need=post.tag_ids if post is not None else ())
    tags = listing.tags
    if listing.outcome in (OUTCOME_HIT, OUTCOME_SHARED):
        ctx.progress(
            f"{len(tags)} tags of location {location_id} from the cache "
            f"(fetched at {listing.fetched_at.isoformat()})"
        )
    else:
        ctx.progress(f"fetched {len(tags)} tags of location {location_id}")

    post_tags: list[dict[str, Any]] = []
    if post is not None:
        by_id: dict[str, Tag] = {tag.id: tag for tag in tags}
        # A post can carry a tag the listing lacks even just after listing again (GHL's
        # listing has not caught up, or the tag was deleted): ask for it by id.
        missing = [tag_id for tag_id in dict.fromkeys(post.tag_ids) if tag_id not in by_id]
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
        published_at=event.published_at,
    )
    ctx.write_back(
        WRITEBACK,
        {
            "post_id": event.post_id,
            "location_id": location_id,
            "ghl_post_id": event.ghl_post_id,
            "tags": brief_tags,
            "post_tags": post_tags,
            "tags_fetched_at": listing.fetched_at.isoformat(),
            "synced_at": ctx.now.isoformat(),
        },
        event.record,
        about=f"for CRM post {event.post_id}",
    )
    return record


def location_tags(ctx: FlowContext, location_id: str, *, need: Collection[str] = ()) -> CachedTags:
    """The location's tags: through the context's tag cache, or listed now without one.

    Without a cache ``fetched_at`` is the attempt's clock (`FlowContext.now`), taken before
    the listing starts.
    """
    fetch = functools.partial(ctx.ghl.list_tags, location_id)
    if ctx.tag_cache is None:
        return CachedTags(tuple(fetch()), ctx.now, OUTCOME_OFF)
    return ctx.tag_cache.tags(location_id, fetch, need=need)


def _brief(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name}
