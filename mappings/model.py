"""A loaded mapping: what `load_mapping` returns and the receiver, connectors and CLI read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mappings.selectors import Selector
from mappings.spec import Constant, FieldSpec
from schemas.events import EVENT_TYPES


@dataclass(frozen=True)
class InboundPart:
    """How a CRM's body becomes our event.

    ``fields`` maps event field names (``post_id``, ``record.contact_id``, ``timestamp``)
    to their specs; the fields an event type does not have are ignored for that type.
    """

    type: FieldSpec
    id: FieldSpec | None
    fields: Mapping[str, FieldSpec]

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types this part names: its constant, or its map's targets and default.

        A type read straight from the body (a path without a map) may be any of them.
        """
        spec = self.type
        named: list[Any] = []
        if isinstance(spec.origin, Constant):
            named.append(spec.origin.value)
        if spec.map is not None:
            named.extend(spec.map.values())
        if spec.default is not None:
            named.append(spec.default)
        found = {name for name in named if name in EVENT_TYPES}
        if isinstance(spec.origin, Selector) and spec.map is None:
            found = set(EVENT_TYPES)
        return tuple(name for name in EVENT_TYPES if name in found)


@dataclass(frozen=True)
class ConnectionMapping:
    """One connection's mapping, checked and compiled; ``text`` is the YAML as given."""

    version: int
    text: str
    inbound: InboundPart | None
    outbound: Mapping[str, Mapping[str, FieldSpec]]  # write-back type -> field -> spec

    def summary(self) -> dict[str, Any]:
        """What the mapping does, as JSON values (what `mappings validate|show` print)."""
        inbound: dict[str, Any] | None = None
        if self.inbound is not None:
            inbound = {
                "event_types": list(self.inbound.event_types),
                "type": self.inbound.type.source,
                "id": self.inbound.id.source if self.inbound.id is not None else None,
                "fields": {name: spec.source for name, spec in self.inbound.fields.items()},
            }
        return {
            "version": self.version,
            "inbound": inbound,
            "outbound": {
                writeback: {name: spec.source for name, spec in specs.items()}
                for writeback, specs in self.outbound.items()
            },
        }
