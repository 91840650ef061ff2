"""Injected faults of the sandbox mail server, queued through ``POST /_sandbox/faults``.

    {"kind": "reply", "code": 421, "times": 1}       answer the next DATA (after its final
                                                     dot) with 421 instead of keeping the
                                                     message
    {"kind": "reply", "code": 451, "command": "MAIL"}  answer the next MAIL FROM with 451
    {"kind": "close_after_250"}                      keep the next message, send its 250,
                                                     then close the connection before QUIT
    {"kind": "no_answer"}                            keep the next message and never answer
                                                     its DATA: the connection is held until
                                                     the client gives up or the server stops
    {"kind": "auth_fail"}                            answer every AUTH of the next session
                                                     that authenticates with 535, whatever
                                                     the credentials

``times`` (default 1) counts the commands the fault answers (sessions, for ``auth_fail``:
a client that tries PLAIN, then LOGIN after a 535, sees both refused). ``message`` replaces
the default text of a ``reply``. A ``reply`` whose code is 421 also closes the connection,
as RFC 5321 says a 421 does; any other code leaves the session open. A reply to DATA keeps
nothing.

Each fault waits for its own command: ``auth_fail`` for the next AUTH, a ``reply`` for the
next DATA (or MAIL, with ``"command": "MAIL"``), the other two for the next DATA. Among the
faults pending for one command, the oldest is used first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

Command = Literal["AUTH", "MAIL", "DATA"]
KINDS = ("reply", "close_after_250", "no_answer", "auth_fail")

# Enhanced status codes (RFC 3463) a real submission server would give with these replies.
DEFAULT_REPLIES = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.0 Mailbox unavailable, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.7.1 Message refused",
    552: "5.3.4 Message too big for system",
    554: "5.6.0 Transaction failed",
}


@dataclass(frozen=True)
class Fault:
    kind: str
    code: int | None = None
    command: str = "DATA"
    message: str | None = None
    times: int = 1

    @property
    def waits_for(self) -> Command:
        """The SMTP command this fault answers."""
        if self.kind == "auth_fail":
            return "AUTH"
        if self.kind == "reply" and self.command == "MAIL":
            return "MAIL"
        return "DATA"

    @property
    def reply_line(self) -> str:
        """The whole reply line of a ``reply`` fault: code and text."""
        code = self.code or 451
        if self.message is not None:
            return f"{code} {self.message}"
        fallback = "4.0.0 Temporary failure" if code < 500 else "5.0.0 Permanent failure"
        return f"{code} {DEFAULT_REPLIES.get(code, fallback)} (sandbox fault)"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultSchema(Schema):
    """A fault as posted: its kind, and for a ``reply`` the code (and command, message)."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    code = fields.Integer(load_default=None, validate=validate.Range(min=400, max=599))
    command = fields.String(load_default="DATA", validate=validate.OneOf(("DATA", "MAIL")))
    # No CR or LF: the text goes on the reply line as it is.
    message = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=400), validate.Regexp(r"^[^\r\n]*$")],
    )
    times = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))

    @validates_schema
    def _fits_the_kind(self, data: dict[str, Any], **_: Any) -> None:
        if data["kind"] == "reply":
            if data["code"] is None:
                raise ValidationError("A reply fault needs a code (400 to 599).", "code")
            return
        for name, default in (("code", None), ("message", None), ("command", "DATA")):
            if data[name] != default:
                raise ValidationError(f"Only a reply fault takes a {name}.", name)


def load_fault(payload: Any) -> Fault:
    """A fault from posted JSON; raise ValidationError with field messages otherwise."""
    if not isinstance(payload, dict):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    return Fault(**FaultSchema().load(payload))
