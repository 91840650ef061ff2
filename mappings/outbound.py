"""`evaluate_fields`: the outbound part of a mapping, evaluated over what a connector writes.

A connector that takes an outbound part (its kind's ``outbound_fields``) calls this with the
specs of one write-back type and `crm.connector.WriteBack.document()`, and builds its
request from the result. The field names are the connector's own (SmartOffice: ``ContactID``,
``Keywords``, ``Note``); what each means, and what the connector adds to it, is the
connector's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.selectors import ABSENT
from mappings.spec import FieldSpec
from mappings.transforms import FieldError


class OutboundMappingError(ValueError):
    """One outbound field could not be evaluated. ``str``: "<field>: <message> (from <source>)"."""

    def __init__(self, field: str, message: str, source: str) -> None:
        self.field = field
        self.message = message
        self.source = source
        super().__init__(f"{field}: {message} (from {source})")


def evaluate_fields(specs: Mapping[str, FieldSpec], document: Mapping[str, Any]) -> dict[str, Any]:
    """Every spec evaluated over ``document``, by field name; absent results are left out.

    Raises OutboundMappingError for the first field that fails (in the mapping's order).
    """
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        try:
            value = spec.evaluate(document)
        except FieldError as exc:
            raise OutboundMappingError(name, str(exc), spec.source) from None
        if value is not ABSENT:
            values[name] = value
    return values
