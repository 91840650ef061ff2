"""`tag.details_requested`: the full GHL tag objects attached to the CRM post record."""

from __future__ import annotations

from crm.connector import WriteBack
from schemas.events import TagDetailsRequested
from store import PostRecord
from workers.flows.context import FlowContext

WRITEBACK = "post.tag_details_attached"


def attach_tag_details(ctx: FlowContext, event: TagDetailsRequested) -> PostRecord:
    """Ask GHL for the tags by id, store them on the post record and write them back."""
    location_id = ctx.location_for(event.location_id)
    tags = ctx.ghl.tag_details(location_id, event.tag_ids)
    ctx.progress(f"fetched details of {len(tags)} of {len(event.tag_ids)} tags")
    details = [tag.raw for tag in tags]
    record = ctx.store.save_tag_details(
        connection_id=ctx.connection.id,
        crm_post_id=event.post_id,
        location_id=location_id,
        details=details,
    )
    ctx.crm.write(
        WriteBack(
            type=WRITEBACK,
            idempotency_key=ctx.idempotency_key(WRITEBACK),
            data={
                "post_id": event.post_id,
                "location_id": location_id,
                "tag_ids": list(event.tag_ids),
                "tags": details,
                "synced_at": ctx.now.isoformat(),
            },
        )
    )
    ctx.progress(f"wrote {WRITEBACK} for CRM post {event.post_id}")
    return record
