"""A test event for a connection: the body its CRM would send, signed as its CRM signs it.

`socialbridge demo send` POSTs it to the webhook URL; the console's "send test event" form
hands it to the receiver in-process (`send_test_event`, with the receiver's own function as
``deliver``), so both run the real path: authentication, mapping, validation, the event log
and the queue. What is sent depends on the connection:

    no mapping                  our event format (docs/webhooks.md)
    make run's demo mappings    the body that mapping reads (a SmartOffice button's, an
                                IXACT contact's), a fresh request_id each time
    any other mapping           nothing can be made: the CRM's body is unknown here
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook

from console.demo import (
    DEMO_CONTACT_ID,
    IXACT_KIND,
    SMARTOFFICE_KIND,
    demo_ixact_body,
    demo_ixact_mapping,
    demo_smartoffice_body,
    demo_smartoffice_mapping,
)
from schemas.events import POST_PUBLISHED, TAG_DETAILS_REQUESTED
from socialbridge.errors import IntegrationError
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord
from workers.services import Services

DEMO_TITLE = "Open house this Saturday"


class DemoEventRefused(ValueError):
    """No test event can be made; ``usage`` when what was asked for cannot work at all."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Delivery:
    """The receiver's answer to a test event: its HTTP status and JSON body."""

    status_code: int
    answer: Any

    @property
    def accepted(self) -> bool:
        return self.status_code in (200, 202)

    @property
    def event_id(self) -> str | None:
        found = self.answer.get("event_id") if isinstance(self.answer, dict) else None
        return found if isinstance(found, str) else None


# The receiver, in-process: (connection, body, headers) -> its status and JSON answer.
Deliver = Callable[[ConnectionRecord, bytes, Mapping[str, str]], Delivery]


def send_test_event(
    services: Services,
    record: ConnectionRecord,
    event_type: str,
    *,
    deliver: Deliver,
    post_id: str = "crm-post-1",
    ghl_post_id: str | None = "post_demo_1",
    tag_ids: tuple[str, ...] = (),
) -> Delivery:
    """Make the event ``record``'s CRM would send, sign it, and hand it to the receiver."""
    body = made_body(services, record, event_type, post_id, ghl_post_id, tag_ids)
    return deliver(record, body, signed_headers(record, body))


def made_body(
    services: Services,
    record: ConnectionRecord,
    event_type: str,
    post_id: str,
    ghl_post_id: str | None,
    tag_ids: tuple[str, ...],
) -> bytes:
    """The body a CRM of this connection would send for ``event_type``."""
    shipped = shipped_mapping(record)
    if record.mapping is not None and shipped is None:
        raise DemoEventRefused(
            f"{record.name} has a mapping of its own, so `demo send` cannot know the body its "
            "CRM sends: send one with --body FILE (JSON, sent as it is; '-': standard input)",
            usage=True,
        )
    if event_type == TAG_DETAILS_REQUESTED and not tag_ids:
        tag_ids = first_tags(services, record)
    body: dict[str, Any]
    if shipped == SMARTOFFICE_KIND:
        body = demo_smartoffice_body(
            event_type,
            contact_id=str(record.crm_settings.get("stats_contact_id") or DEMO_CONTACT_ID),
            post_id=post_id,
            ghl_post_id=ghl_post_id,
            tag_ids=tag_ids,
            title=DEMO_TITLE,
        )
    elif shipped == IXACT_KIND:
        # Always the demo contact: its address and names belong together.
        body = demo_ixact_body(
            event_type, post_id=post_id, ghl_post_id=ghl_post_id, tag_ids=tag_ids, title=DEMO_TITLE
        )
    else:
        data = _data(event_type, post_id, ghl_post_id, tag_ids)
        body = {"type": event_type, "timestamp": _now().isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


def shipped_mapping(record: ConnectionRecord) -> str | None:
    """Which of `make run`'s shipped mappings the connection has, or None."""
    if record.mapping is None:
        return None
    shipped = {
        SMARTOFFICE_KIND: demo_smartoffice_mapping(),
        IXACT_KIND: demo_ixact_mapping(),
    }
    return next((kind for kind, text in shipped.items() if record.mapping == text), None)


def signed_headers(record: ConnectionRecord, body: bytes) -> dict[str, str]:
    """Authentication as the connection takes it: a Bearer token, or a Standard Webhooks
    signature of these exact bytes (which must be UTF-8)."""
    headers = {"content-type": "application/json"}
    if record.inbound_auth == InboundAuth.TOKEN:
        if not record.inbound_token:
            raise DemoEventRefused(f"{record.name} takes a token but has none stored")
        return {**headers, "authorization": f"Bearer {record.inbound_token}"}
    webhook_id = f"msg_{secrets.token_hex(12)}"
    timestamp = _now()
    signature = Webhook(record.webhook_secrets[0]).sign(webhook_id, timestamp, body.decode())
    return {
        **headers,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def first_tags(services: Services, record: ConnectionRecord) -> tuple[str, ...]:
    """Three real tag ids of the location, so a test event works against any GHL."""
    with services.ghl_for(record) as ghl:
        try:
            tags = ghl.list_tags(record.location_id)
        except IntegrationError as exc:
            raise DemoEventRefused(f"could not list tags to pick from: {exc}") from exc
    if not tags:
        raise DemoEventRefused("the location has no tags; pass --tag-id")
    return tuple(tag.id for tag in tags[:3])


def _data(
    event_type: str, post_id: str, ghl_post_id: str | None, tag_ids: tuple[str, ...]
) -> dict[str, Any]:
    if event_type == POST_PUBLISHED:
        data: dict[str, Any] = {
            "post_id": post_id,
            "title": DEMO_TITLE,
            "published_at": _now().isoformat(),
        }
        if ghl_post_id:
            data["ghl_post_id"] = ghl_post_id
        return data
    if event_type == TAG_DETAILS_REQUESTED:
        return {"post_id": post_id, "tag_ids": list(tag_ids)}
    return {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
