"""Field mappings: a connection's YAML that turns a CRM's own body into our event (inbound)
and shapes what its connector writes back (outbound). The format: docs/mappings.md.

    mapping = load_mapping(text, outbound_fields=kind.capabilities.outbound_fields)
    mapped = map_inbound(mapping, body, received_at=now)   # -> MappedEvent
    values = evaluate_fields(mapping.outbound["post.tags_synced"], writeback.document())

This package reads `schemas` only: the receiver, the connectors and the CLI call it, never
the other way round.
"""

from mappings.inbound import InboundMappingError, MappedEvent, map_inbound
from mappings.loader import event_field_names, load_mapping
from mappings.model import ConnectionMapping, InboundPart
from mappings.outbound import OutboundMappingError, evaluate_fields
from mappings.problems import MappingInvalid, MappingProblem
from mappings.selectors import ABSENT
from mappings.spec import FieldSpec
from mappings.yamltree import MAX_TEXT_BYTES

__all__ = [
    "ABSENT",
    "MAX_TEXT_BYTES",
    "ConnectionMapping",
    "FieldSpec",
    "InboundMappingError",
    "InboundPart",
    "MappedEvent",
    "MappingInvalid",
    "MappingProblem",
    "OutboundMappingError",
    "evaluate_fields",
    "event_field_names",
    "load_mapping",
    "map_inbound",
]
