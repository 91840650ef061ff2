"""The outbound part of a connection's mapping, as a connector applies it to one write."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from crm.connector import WriteBack
from socialbridge.errors import PermanentError

if TYPE_CHECKING:
    from mappings import FieldSpec

SYSTEM = "crm"


def mapped_fields(
    outbound: Mapping[str, Mapping[str, FieldSpec]],
    writeback: WriteBack,
    *,
    allowed: Collection[str],
    target: str,
) -> dict[str, Any]:
    """The fields the mapping sets for this write (empty without an outbound part for its type).

    Evaluated over `WriteBack.document`. A spec that fails, or a field the connector does not
    take (``target`` names what it writes, e.g. "a SmartPad"), refuses the write for good:
    PermanentError, since sending it again gives the same result.
    """
    specs = outbound.get(writeback.type)
    if not specs:
        return {}
    # Imported here: only connections with an outbound mapping need the mappings package.
    from mappings import OutboundMappingError, evaluate_fields

    try:
        mapped = evaluate_fields(specs, writeback.document())
    except OutboundMappingError as exc:
        raise refused(f"the mapping's outbound part for {writeback.type} failed: {exc}") from exc
    unknown = sorted(set(mapped) - set(allowed))
    if unknown:
        raise refused(
            f"the mapping sets {', '.join(unknown)}; {target} takes only {', '.join(allowed)}"
        )
    return mapped


def refused(reason: str) -> PermanentError:
    """The error of a write that is refused before anything is sent."""
    return PermanentError(f"write-back not sent: {reason}", system=SYSTEM)
