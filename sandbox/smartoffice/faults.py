"""Injected faults of the sandbox XML Engine, queued by tests through ``/_sandbox/faults``.

    {"code": 2003, "times": 2}         answer the next 2 requests with a top-level
                                       <error code="2003">, executing nothing
    {"drop_answer": true}              execute and commit the next request, then send no
                                       answer: the connection is closed (see `sandbox.
                                       smartoffice.app` for what a client sees)
    {"status": 502}                    answer HTTP 502 with an HTML page, executing nothing:
                                       a broken gateway in front of the engine
    {"delay_ms": 1500}                 wait, then go on as usual; it combines with any of
                                       the three kinds above (the wait comes first)

``times`` (default 1) counts XML Engine requests; ``message`` replaces the default text of
a ``code`` fault. Faults are used one request at a time, in the order they were posted:
the first pending fault takes the next request, whatever it holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_DELAY_MS = 120_000

FAULT_MESSAGES = {
    1: "Internal error.",
    2002: "Login failed.",
    2003: "Session error.",
    10001: "Data access denied.",
}


@dataclass(frozen=True)
class Fault:
    code: int | None = None
    drop_answer: bool = False
    status: int | None = None
    delay_ms: int = 0
    times: int = 1
    message: str | None = None

    @property
    def error_message(self) -> str:
        """The text of a ``code`` fault's <error>."""
        if self.message is not None:
            return self.message
        return FAULT_MESSAGES.get(self.code or 0, "Injected fault.")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultSchema(Schema):
    """A fault as posted to ``/_sandbox/faults``: at most one kind, or a delay alone."""

    class Meta:
        unknown = RAISE

    code = fields.Integer(load_default=None, validate=validate.Range(min=1, max=99_999))
    drop_answer = fields.Boolean(load_default=False)
    status = fields.Integer(load_default=None, validate=validate.Range(min=400, max=599))
    delay_ms = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_DELAY_MS))
    times = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    message = fields.String(load_default=None, validate=validate.Length(min=1, max=500))

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **_: Any) -> None:
        kinds = [data["code"] is not None, data["drop_answer"], data["status"] is not None]
        if sum(kinds) > 1:
            raise ValidationError("Give one of code, drop_answer and status.", "_schema")
        if sum(kinds) == 0 and not data["delay_ms"]:
            raise ValidationError("Give a code, drop_answer, a status or a delay_ms.", "_schema")
        if data["message"] is not None and data["code"] is None:
            raise ValidationError("Only a code fault takes a message.", "message")


def load_fault(payload: Any) -> Fault:
    """A fault from posted JSON; raise ValidationError with field messages otherwise."""
    if not isinstance(payload, dict):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    return Fault(**FaultSchema().load(payload))
