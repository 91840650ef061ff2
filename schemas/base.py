"""What every schema of our own formats shares."""

from __future__ import annotations

from marshmallow import RAISE, Schema, validate

ID = validate.Length(min=1, max=200)
"""Ids of ours, the CRM's and GHL's: never empty, never longer than the store keeps."""


class StrictSchema(Schema):
    """Our own formats refuse unknown fields, so a typo is an error that names the field."""

    class Meta:
        unknown = RAISE
