"""The demo's CRM-shaped bodies and the mappings shipped for them, side by side.

`make run`'s demo connections (`cli.dev.demo_connections`), `demo send` and the console's
"send test event" all build a SmartOffice button's or an IXACT automation's body here, for
the mapping shipped beside this module (package data: `demo_smartoffice.yaml`,
`demo_ixact.yaml`).
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Any

from schemas.events import POST_PUBLISHED, STATISTICS_REQUESTED, TAG_DETAILS_REQUESTED

SMARTOFFICE_KIND = "smartoffice"
IXACT_KIND = "ixact"
DEMO_SMARTOFFICE_MAPPING = "demo_smartoffice.yaml"
DEMO_IXACT_MAPPING = "demo_ixact.yaml"
# The SmartOffice sandbox's seed contact, as `sandbox.smartoffice.state` has it (a test keeps
# the two equal).
DEMO_CONTACT_ID = "Contact.1.31"
# The IXACT contact the demo's automation posts about: the address IXACT finds the contact
# by, and the names the Contact Groups export needs.
DEMO_IXACT_CONTACT_EMAIL = "ann.lee@example.com"
DEMO_IXACT_FIRST_NAME = "Ann"
DEMO_IXACT_LAST_NAME = "Lee"

# What each event type is called by the buttons of the shipped mapping (its `inbound.type`).
SMARTOFFICE_ACTIONS = {
    POST_PUBLISHED: "post_published",
    TAG_DETAILS_REQUESTED: "tag_info",
    STATISTICS_REQUESTED: "stats",
}
# And by the automation of the shipped IXACT mapping (docs/connectors/ixact.md's example).
IXACT_ACTIONS = {
    POST_PUBLISHED: "post_published",
    TAG_DETAILS_REQUESTED: "tag_details",
    STATISTICS_REQUESTED: "statistics",
}


def demo_smartoffice_mapping() -> str:
    """The text of the shipped mapping of `demo-smartoffice` (package data of `console.demo`)."""
    return resources.files("console.demo").joinpath(DEMO_SMARTOFFICE_MAPPING).read_text("utf-8")


def demo_smartoffice_body(
    event_type: str,
    *,
    contact_id: str,
    post_id: str,
    ghl_post_id: str | None,
    tag_ids: tuple[str, ...],
    title: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """What a SmartOffice button would POST for ``event_type``, in the shipped mapping's shape.

    Each call has a fresh ``request_id`` unless one is given: the mapping makes it the
    delivery's id, so two presses are two events and a retried POST of one press is one.
    """
    body: dict[str, Any] = {
        "action": SMARTOFFICE_ACTIONS[event_type],
        "request_id": request_id or f"req_{secrets.token_hex(8)}",
        "contact": {"id": contact_id},
    }
    if event_type == POST_PUBLISHED:
        post: dict[str, Any] = {"id": post_id, "title": title}
        if ghl_post_id:
            post["ghl_post_id"] = ghl_post_id
        body["post"] = post
    elif event_type == TAG_DETAILS_REQUESTED:
        body["post"] = {"id": post_id, "tag_ids": list(tag_ids)}
    return body


def demo_ixact_mapping() -> str:
    """The text of the shipped mapping of `demo-ixact` (package data of `console.demo`)."""
    return resources.files("console.demo").joinpath(DEMO_IXACT_MAPPING).read_text("utf-8")


def demo_ixact_body(
    event_type: str,
    *,
    post_id: str,
    ghl_post_id: str | None,
    tag_ids: tuple[str, ...],
    title: str,
    contact_email: str = DEMO_IXACT_CONTACT_EMAIL,
    first_name: str = DEMO_IXACT_FIRST_NAME,
    last_name: str = DEMO_IXACT_LAST_NAME,
    request_id: str | None = None,
) -> dict[str, Any]:
    """What a user's automation would POST for ``event_type``, in the shipped IXACT mapping's
    shape: the contact it is about, with the names the Contact Groups export needs.

    A fresh ``request_id`` each call unless one is given (the mapping's delivery id: two
    submissions are two events, a retried POST of one is one).
    """
    body: dict[str, Any] = {
        "action": IXACT_ACTIONS[event_type],
        "request_id": request_id or f"req_{secrets.token_hex(8)}",
        "contact": {"email": contact_email, "first_name": first_name, "last_name": last_name},
    }
    if event_type == POST_PUBLISHED:
        post: dict[str, Any] = {"id": post_id, "title": title}
        if ghl_post_id:
            post["ghl_post_id"] = ghl_post_id
        body["post"] = post
    elif event_type == TAG_DETAILS_REQUESTED:
        # The title too: the email's subject names the post by it.
        body["post"] = {"id": post_id, "title": title, "tag_ids": list(tag_ids)}
    return body
