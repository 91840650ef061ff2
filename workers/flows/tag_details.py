"""`tag.details_requested`: the full GHL tag objects attached to the CRM post record."""

from __future__ import annotations

from schemas.events import TagDetailsRequested
from store import PostRecord
from workers.flows.context import FlowContext

WRITEBACK = "post.tag_details_attached"


def attach_tag_details(ctx: FlowContext, event: TagDetailsRequested) -> PostRecord:
    """Ask GHL for the tags by id, store them on the post record and write them back.

    GHL leaves out of its answer the ids it does not know (deleted tags, another location's,
    typos); the write-back names them in `missing_tag_ids` so the CRM can tell "no such tag"
    from "not asked".
    """
    location_id = ctx.location_for(event.location_id)
    tags = ctx.ghl.tag_details(location_id, event.tag_ids)
    found = {tag.id for tag in tags}
    missing = [tag_id for tag_id in dict.fromkeys(event.tag_ids) if tag_id not in found]
    ctx.progress(
        f"fetched details of {len(found)} of {len(event.tag_ids)} tags"
        + (f"; GHL does not know {', '.join(missing)}" if missing else "")
    )
    details = [tag.raw for tag in tags]
    record = ctx.store.save_tag_details(
        connection_id=ctx.connection.id,
        crm_post_id=event.post_id,
        location_id=location_id,
        details=details,
    )
    ctx.write_back(
        WRITEBACK,
        {
            "post_id": event.post_id,
            "location_id": location_id,
            "tag_ids": list(event.tag_ids),
            "tags": details,
            "missing_tag_ids": missing,
            "synced_at": ctx.now.isoformat(),
        },
        event.record,
        about=f"for CRM post {event.post_id}",
    )
    return record
