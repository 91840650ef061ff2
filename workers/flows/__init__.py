"""The three flows: plain functions of (FlowContext, validated event data), no Flask, no Celery.

`FLOWS` is the one table from CRM event type to the flow that handles it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.events import POST_PUBLISHED, STATISTICS_REQUESTED, TAG_DETAILS_REQUESTED
from workers.flows.context import FlowContext
from workers.flows.post_tags import sync_post_tags
from workers.flows.statistics import sync_statistics
from workers.flows.tag_details import attach_tag_details

FLOWS: dict[str, Callable[[FlowContext, Any], object]] = {
    POST_PUBLISHED: sync_post_tags,
    TAG_DETAILS_REQUESTED: attach_tag_details,
    STATISTICS_REQUESTED: sync_statistics,
}

__all__ = ["FLOWS", "FlowContext", "attach_tag_details", "sync_post_tags", "sync_statistics"]
