"""What an inbound body becomes: the one place the receiver and previews turn a body into an event.

Without a mapping the body is our own event format (docs/webhooks.md). With one, it is the
CRM's own JSON: the mapping makes our event of it (`mappings.map_inbound`), and the errors
name the JSONPath each event field came from. Either way the event is validated by
`schemas.events.load_event` and must be about the connection's own GHL location.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from mappings import InboundMappingError, MappingInvalid, map_inbound
from schemas.events import CrmEvent, flatten_errors, load_event
from socialbridge.logs import get_logger
from store import ConnectionRecord
from workers.services import mapping_of

log = get_logger(__name__)


class BodyInvalid(Exception):
    """The body makes no valid event; ``errors`` as a 422 gives them, by event field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class Intake:
    event: CrmEvent
    # The mapping's `id` of the body, when the mapping has one: the delivery key of a
    # token-authenticated POST.
    delivery_id: str | None = None


def event_from_body(
    connection: ConnectionRecord, payload: Any, *, received_at: dt.datetime
) -> Intake:
    """The validated event of a decoded body for ``connection``; BodyInvalid if none."""
    intake = _mapped(connection, payload, received_at)
    requested = getattr(intake.event.data, "location_id", None)
    if requested is not None and requested != connection.location_id:
        raise BodyInvalid(
            {
                "data.location_id": [
                    f"This connection serves location {connection.location_id!r}, "
                    f"not {requested!r}."
                ]
            }
        )
    return intake


def _mapped(connection: ConnectionRecord, payload: Any, received_at: dt.datetime) -> Intake:
    if connection.mapping is None:
        try:
            return Intake(load_event(payload))
        except ValidationError as exc:
            raise BodyInvalid(flatten_errors(exc.messages)) from None
    try:
        mapping = mapping_of(connection)
        assert mapping is not None  # connection.mapping is set
        mapped = map_inbound(mapping, payload, received_at=received_at)
    except MappingInvalid as exc:
        # Stored valid; unusable only if this version reads mappings differently.
        log.error("intake.mapping_unusable", connection_id=connection.id, error=str(exc))
        message = f"The connection's mapping cannot be used: {exc}"
        raise BodyInvalid({"_mapping": [message]}) from None
    except InboundMappingError as exc:
        raise BodyInvalid(exc.errors) from None
    try:
        return Intake(load_event(mapped.envelope), mapped.delivery_id)
    except ValidationError as exc:
        raise BodyInvalid(mapped.explain(flatten_errors(exc.messages))) from None
