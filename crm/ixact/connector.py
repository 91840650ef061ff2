"""`IxactConnector`: each write-back becomes one email that IXACT files under its contact.

A write goes to the contact ``record.contact_email`` of the event (for statistics, that or
else the connection's ``stats_contact_email`` setting). Its subject and body are
`crm.ixact.texts`' defaults, replaced field by field by the mapping's outbound part for the
write-back's type (``Subject``, ``Body``; From, To and the envelope are never mapped); the
body then always ends with the line ``socialbridge-id: <idempotency key>``. The message and
its envelope are `crm.ixact.message`'s; `crm.ixact.sending` speaks SMTP.

IXACT cannot be asked whether it has a message, so a write is sent at most once by the
connection's write ledger (`crm.connector.WriteLedger`), not by asking the CRM:

    1. begin      record the write (contact, record, tag names) before sending
                  -> found "sent": an earlier attempt got the server's 250; done
    2. send       the email; the SMTP server's 250 to DATA means it took the message
    3. mark sent  in the ledger

One window is left, and no email system closes it: the server took the message but its 250
never reached us (a timeout, a dropped connection), or the process died between the 250 and
step 3. The ledger then still says "sending", and the next attempt sends again: at most one
more copy per such failure, with the same Message-ID (IXACT may show it twice in Contact
History; a mail server that de-duplicates by Message-ID will not). That attempt logs
``ixact.resend_window``, and the event still ends done.

A connector without a ledger is refused when built (ValueError): it must never send a write
it has not recorded. Each write ends with one ``crm.write`` line (outcome delivered,
already_sent, retryable, refused_credentials or rejected); no line holds the password.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError

from crm.connector import OutgoingRequest, WriteBack, WriteLedger
from crm.ixact.addresses import is_address
from crm.ixact.message import Email, build_email, text_of
from crm.ixact.sending import SmtpSender
from crm.ixact.texts import (
    SUBJECT_MAX,
    default_text,
    one_line,
    with_reference,
    written_tags,
)
from crm.outbound import mapped_fields, refused
from crm.write_outcomes import failure_outcome
from schemas.writebacks import STATISTICS_SYNCED, WRITEBACK_SCHEMAS, WritebackData
from socialbridge.errors import IntegrationError
from socialbridge.logs import get_logger

if TYPE_CHECKING:
    from mappings import FieldSpec

log = get_logger(__name__)

OUTBOUND_FIELDS = ("Subject", "Body")
CONTACT_KEY = "contact_email"


@dataclass(frozen=True)
class _Plan:
    """One write, built: the email, and what the ledger records of it."""

    email: Email
    contact: str
    tags: list[str]


class IxactConnector:
    """Implements `crm.connector.CRMConnector` by email, through an injected `SmtpSender`.

    ``outbound`` is the mapping's outbound part (write-back type -> field -> spec);
    ``clock`` gives the Date header (aware datetimes).
    """

    def __init__(
        self,
        sender: SmtpSender,
        *,
        ledger: WriteLedger,
        outbound: Mapping[str, Mapping[str, FieldSpec]] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._smtp = sender
        self._settings = sender.settings
        self._ledger = ledger
        self._outbound = outbound or {}
        self._clock = clock

    # --- the protocol ---------------------------------------------------------------------

    def write(self, writeback: WriteBack) -> None:
        """Send the write-back's email unless the ledger says an earlier attempt did."""
        key = writeback.idempotency_key
        fields: dict[str, Any] = {
            "type": writeback.type,
            "idempotency_key": key,
            "crm": self._settings.url,
        }
        try:
            plan = self._plan(writeback)
            fields["message_id"] = plan.email.message_id
            entry = self._ledger.begin(
                key,
                writeback_type=writeback.type,
                contact=plan.contact,
                record=dict(writeback.record),
                tags=plan.tags,
            )
            if entry.status == "sent":
                log.info("crm.write", outcome="already_sent", **fields)
                return
            if entry.attempts > 1:
                # An earlier attempt may have been taken by the server without our knowing.
                log.warning("ixact.resend_window", attempts=entry.attempts, **fields)
            self._smtp.send(plan.email)
        except IntegrationError as exc:
            log.warning("crm.write", outcome=failure_outcome(exc), error=exc.message, **fields)
            raise
        self._ledger.mark_sent(key)
        log.info("crm.write", outcome="delivered", **fields)

    def preview(self, writeback: WriteBack) -> list[OutgoingRequest]:
        """The email ``write`` would send (headers and text) with its envelope; nothing sent."""
        email = self._plan(writeback).email
        envelope = email.envelope
        return [
            OutgoingRequest(
                method="SMTP",
                url=self._settings.url,
                headers={name: str(value) for name, value in email.message.items()},
                body=text_of(email.message),
                purpose=(
                    f"one email, envelope MAIL FROM:<{envelope.mail_from}> "
                    f"RCPT TO:<{envelope.rcpt_to}> only (the contact in To receives nothing); "
                    "not sent again once the write ledger says sent"
                ),
            )
        ]

    def check(self) -> str:
        """Connect, secure, log in, NOOP and QUIT on the mail server."""
        return self._smtp.check()

    def close(self) -> None:
        """Nothing to release: every send opens and ends its own SMTP session."""

    # --- building a write -----------------------------------------------------------------

    def _plan(self, writeback: WriteBack) -> _Plan:
        schema = WRITEBACK_SCHEMAS.get(writeback.type)
        if schema is None:
            raise refused(f"IXACT Contact takes no write-back of type {writeback.type!r}")
        try:
            value: WritebackData = schema.load(writeback.data)
        except ValidationError as exc:
            raise refused(f"invalid {writeback.type}: {exc.messages}") from exc
        if not writeback.idempotency_key.strip():
            raise refused("the idempotency key is empty")
        text = default_text(value, writeback.record)
        mapped = self._mapped(writeback)
        subject = _subject(mapped.get("Subject"), text.subject)
        body = text.body if mapped.get("Body") is None else _scalar("Body", mapped["Body"])
        contact = self._contact(writeback)
        try:
            email = build_email(
                sender=self._settings.sender,
                contact=contact,
                notes_address=self._settings.notes_address,
                subject=subject,
                body=with_reference(body, writeback.idempotency_key),
                idempotency_key=writeback.idempotency_key,
                now=self._clock(),
            )
        except ValueError as exc:
            raise refused(str(exc)) from exc
        return _Plan(email=email, contact=contact, tags=written_tags(value))

    def _mapped(self, writeback: WriteBack) -> dict[str, Any]:
        return mapped_fields(
            self._outbound, writeback, allowed=OUTBOUND_FIELDS, target="an IXACT email"
        )

    def _contact(self, writeback: WriteBack) -> str:
        given = str(writeback.record.get(CONTACT_KEY) or "").strip()
        if given:
            source, contact = f"data.record.{CONTACT_KEY}", given
        elif writeback.type == STATISTICS_SYNCED and self._settings.stats_contact_email:
            source, contact = "the stats_contact_email setting", self._settings.stats_contact_email
        else:
            where = (
                " (or set the connection's stats_contact_email setting)"
                if writeback.type == STATISTICS_SYNCED
                else ""
            )
            raise refused(
                f"data.record.{CONTACT_KEY} is missing: IXACT files the email under the "
                f"contact whose address is in To{where}"
            )
        if not is_address(contact):
            raise refused(f"{source} {contact!r} is not a plain email address")
        return contact


def _subject(mapped: Any, default: str) -> str:
    if mapped is None:
        return default
    subject = one_line(_scalar("Subject", mapped), limit=SUBJECT_MAX)
    if not subject:
        raise refused("the mapping's Subject is blank; IXACT shows a message by its subject")
    return subject


def _scalar(name: str, value: Any) -> str:
    """A mapped value as text; a mapping that yields an object or a list here is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise refused(f"the mapping's {name} must be text, got {type(value).__name__}")
    return value if isinstance(value, str) else str(value)
