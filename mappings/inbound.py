"""`map_inbound`: a CRM's own body turned into our event by the connection's mapping.

The result is an envelope for `schemas.events.load_event`, which still validates it: the
mapping only moves and shapes values. So there are two kinds of errors, both answered 422
by the receiver and both keyed by event path (``type``, ``timestamp``, ``data.post_id``,
``data.record.contact_id``):

- the mapping cannot produce an event (`InboundMappingError`): no inbound part, no event
  type, a ``required``/``type``/``max_len`` check or a template failing;
- the event it produced is invalid (load_event's ValidationError): `MappedEvent.explain`
  adds to each message the JSONPath the field came from, as written in the mapping.

Fields the event type does not have are not evaluated at all, so one mapping serves several
event types. ``timestamp`` is the time of receipt unless the mapping maps it. Record values
that are numbers or booleans are written as text (a record is text to text); a record key
whose selector matched nothing is left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mappings.loader import RECORD_PREFIX, TIMESTAMP
from mappings.model import ConnectionMapping
from mappings.selectors import ABSENT
from mappings.spec import FieldSpec
from mappings.transforms import FieldError, as_text, kind_of, shown
from schemas.events import DATA_SCHEMAS, EVENT_TYPES

DELIVERY_ID = "id"
"""The key of a delivery id's errors (it is not a field of the event)."""


class InboundMappingError(ValueError):
    """The mapping could not make an event of the body; ``errors`` by event path."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {path: list(messages) for path, messages in errors.items()}
        lines = [f"{path}: {' '.join(messages)}" for path, messages in self.errors.items()]
        super().__init__("; ".join(lines))


@dataclass(frozen=True)
class MappedEvent:
    """What the mapping made of a body.

    ``envelope`` is ready for `schemas.events.load_event`; ``delivery_id`` is the mapped
    idempotency key, if the mapping has one; ``sources`` maps each event path the mapping
    reads for this event type, found or not, to where it reads it from (the JSONPath as
    written, or "value", or "template"). A mapped timestamp that found nothing is not in
    it: the event then has the time of receipt.
    """

    envelope: dict[str, Any]
    delivery_id: str | None
    sources: Mapping[str, str] = field(default_factory=dict)

    def explain(self, errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
        """``errors`` (flattened, e.g. from load_event) with each message suffixed by
        " (mapped from <source>)" when its path is, or lies under, a mapped field."""
        explained: dict[str, list[str]] = {}
        for path, messages in errors.items():
            source = self._source_of(path)
            suffix = f" (mapped from {source})" if source is not None else ""
            explained[path] = [f"{message}{suffix}" for message in messages]
        return explained

    def _source_of(self, path: str) -> str | None:
        best: str | None = None
        for mapped in self.sources:
            if (path == mapped or path.startswith(mapped + ".")) and (
                best is None or len(mapped) > len(best)
            ):
                best = mapped
        return self.sources[best] if best is not None else None


def map_inbound(mapping: ConnectionMapping, body: Any, *, received_at: dt.datetime) -> MappedEvent:
    """The event ``mapping`` makes of ``body``; InboundMappingError when it cannot make one."""
    part = mapping.inbound
    if part is None:
        raise InboundMappingError(
            {"_body": ["The connection's mapping has no inbound part: it cannot read this body."]}
        )
    errors: dict[str, list[str]] = {}
    sources: dict[str, str] = {}

    def evaluate(path: str, spec: FieldSpec) -> Any:
        # Named even when nothing is found: "Missing data for required field. (mapped from
        # $.post.id)" tells the CRM where its value was looked for.
        sources[path] = spec.source
        try:
            return spec.evaluate(body)
        except FieldError as exc:
            errors.setdefault(path, []).append(_from(str(exc), spec))
            return ABSENT

    event_type = evaluate("type", part.type)
    if event_type is ABSENT:
        errors.setdefault("type", []).append(_from("Nothing was found.", part.type))
    elif event_type not in EVENT_TYPES:
        message = (
            f"{shown(event_type)} is not an event type; expected one of: {', '.join(EVENT_TYPES)}."
        )
        errors.setdefault("type", []).append(_from(message, part.type))

    delivery_id = None
    if part.id is not None:
        delivery_id = _delivery_id(evaluate(DELIVERY_ID, part.id), part.id, errors)

    timestamp: Any = received_at.isoformat()
    if TIMESTAMP in part.fields:
        mapped = evaluate(TIMESTAMP, part.fields[TIMESTAMP])
        if mapped is ABSENT:
            del sources[TIMESTAMP]  # the time of receipt it is, not the mapping's
        else:
            timestamp = mapped

    if "type" in errors:
        # Without a type it is not known which fields to read: only these errors are sure.
        raise InboundMappingError(errors)

    declared = DATA_SCHEMAS[event_type]._declared_fields
    data: dict[str, Any] = {}
    record: dict[str, Any] = {}
    for name, spec in part.fields.items():
        if name == TIMESTAMP:
            continue
        if name.startswith(RECORD_PREFIX):
            if "record" in declared:
                key = name.removeprefix(RECORD_PREFIX)
                value = evaluate(f"data.{name}", spec)
                value = _record_value(value, f"data.{name}", spec, errors)
                if value is not ABSENT:
                    record[key] = value
        elif name in declared:
            value = evaluate(f"data.{name}", spec)
            if value is not ABSENT:
                data[name] = value
    if record:
        data["record"] = record
    if errors:
        raise InboundMappingError(errors)
    envelope = {"type": event_type, "timestamp": timestamp, "data": data}
    return MappedEvent(envelope=envelope, delivery_id=delivery_id, sources=sources)


def _from(message: str, spec: FieldSpec) -> str:
    return f"{message} (mapped from {spec.source})"


def _delivery_id(value: Any, spec: FieldSpec, errors: dict[str, list[str]]) -> str | None:
    # Nothing, null or "" is no id: the receiver then keys the delivery by its body. How a
    # long or unusual id is stored is the receiver's business (webapp.inbound_auth).
    if value is ABSENT or value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        message = f"A delivery id is text or a number, not {kind_of(value)}."
        errors.setdefault(DELIVERY_ID, []).append(_from(message, spec))
        return None
    return as_text(value)


def _record_value(value: Any, path: str, spec: FieldSpec, errors: dict[str, list[str]]) -> Any:
    if value is ABSENT or value is None:
        return ABSENT
    try:
        if isinstance(value, list | tuple | Mapping):
            raise FieldError(f"A record value is text or a number, not {kind_of(value)}.")
        return as_text(value)
    except FieldError as exc:
        errors.setdefault(path, []).append(_from(str(exc), spec))
        return ABSENT
