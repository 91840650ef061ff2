"""The bodies the JSON API's write endpoints take (`webapp.api_connections`,
`webapp.api_mappings`), checked before any service function runs.

Each is a `StrictSchema`: an unknown field is an error naming it (a typo never silently does
nothing), and text with NUL or a lone surrogate is refused. ``load_api_body`` gives the
loaded values or `ApiBodyInvalid` with the errors by dotted field path, which the API
answers as 400 ``{"error": "invalid_body", "message": …, "errors": {field: [...]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate

from schemas.base import StrictSchema
from schemas.events import flatten_errors

NAME = validate.Length(min=1, max=200)


class ApiBodyInvalid(ValueError):
    """A body the endpoint cannot use; ``errors`` by dotted field path."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__(
            "; ".join(f"{name}: {' '.join(messages)}" for name, messages in self.errors.items())
        )


class ConnectionCreateSchema(StrictSchema):
    """POST /api/connections: what `connections add` and the console's form take."""

    name = fields.String(required=True, validate=NAME)
    crm_kind = fields.String(load_default=None, validate=validate.Length(min=1, max=50))
    ghl_auth = fields.String(load_default="pit", validate=validate.OneOf(["pit", "oauth"]))
    location_id = fields.String(load_default="", validate=validate.Length(max=100))
    ghl_token = fields.String(load_default="")
    crm_url = fields.String(load_default="")
    # Checked by the CRM kind's own settings schema (`console.connections.checked_settings`).
    crm_settings = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)), load_default=dict
    )
    inbound_auth = fields.String(
        load_default="", validate=validate.OneOf(["", "signature", "token"])
    )
    mapping = fields.String(load_default=None, allow_none=True)
    stats_interval_seconds = fields.Integer(strict=True, load_default=None, allow_none=True)


class ConnectionUpdateSchema(StrictSchema):
    """PATCH /api/connections/<id>: only what is given changes.

    ``crm_settings`` holds changes: a value replaces the stored one, null removes it (a
    secret setting not given is kept, as a blank secret input keeps it in the console)."""

    name = fields.String(validate=NAME)
    ghl_token = fields.String(validate=validate.Length(min=1))
    crm_url = fields.String(validate=validate.Length(min=1))
    crm_settings = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        values=fields.Raw(allow_none=True),
    )
    stats_interval_seconds = fields.Integer(strict=True)


class CheckSchema(StrictSchema):
    """POST /api/connections/<id>/check: a GHL post to fetch (else one of its recent ones)."""

    post_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class RotateSchema(StrictSchema):
    """POST /api/connections/<id>/rotate-secret: a new one, or keep only the newest."""

    retire = fields.Boolean(load_default=False)


class DisconnectSchema(StrictSchema):
    """POST /api/connections/<id>/disconnect: why (the connection's status reason)."""

    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class MappingTextSchema(StrictSchema):
    """PUT /api/connections/<id>/mapping and POST …/mapping/check: a mapping's YAML text."""

    text = fields.String(required=True)


class PreviewSchema(StrictSchema):
    """POST /api/connections/<id>/mapping/preview: a CRM body, and a mapping text to try
    (without it: the stored mapping)."""

    body = fields.Raw(required=True, allow_none=False)
    text = fields.String(load_default=None, allow_none=True)


class EmptySchema(StrictSchema):
    """An endpoint that takes nothing: any field given is an error."""


def load_api_body(schema: StrictSchema, body: Any) -> dict[str, Any]:
    """``body`` (the request's JSON; None: there was none) loaded by ``schema``."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ApiBodyInvalid({"_body": ["Expected a JSON object."]})
    try:
        loaded: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        raise ApiBodyInvalid(flatten_errors(exc.messages)) from None
    return loaded
