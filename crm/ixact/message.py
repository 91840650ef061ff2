"""One write-back as one email, and the SMTP envelope that carries it to IXACT only.

IXACT's email capture files a message from an authorized sender, with its capture address
in To, Cc or Bcc, under every contact whose address is in To or Cc. So:

    From        the connection's ``sender`` (an authorized sender address)
    To          the contact alone, and no Cc: IXACT files the message under that contact
    Subject     `crm.ixact.texts` (or the mapping's ``Subject``)
    Date        when this attempt is built
    Message-ID  ``<sha256(idempotency key), 32 hex digits@socialbridge>``: the same on every
                attempt of a write, so a second copy (see `crm.ixact.connector`) is
                recognisably the same message
    body        text/plain, UTF-8 (quoted-printable unless it is short-lined ASCII)

    envelope    MAIL FROM:<sender>  RCPT TO:<notes_address>, and no other recipient

The envelope, not the headers, decides who receives a message: the contact named in To
never gets it; IXACT, reached as the capture address in Bcc would be, reads the To header
to find the contact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from crm.ixact.addresses import is_address

MESSAGE_ID_DOMAIN = "socialbridge"
MESSAGE_ID_HEX = 32
LINE_MAX = 998
"""RFC 5322's longest line; a body with a longer one is sent quoted-printable."""


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope: who sends (MAIL FROM) and the only recipient (RCPT TO)."""

    mail_from: str
    rcpt_to: str


@dataclass(frozen=True)
class Email:
    """One message ready to send, with its envelope."""

    message: EmailMessage
    envelope: Envelope

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


def message_id(idempotency_key: str) -> str:
    """The Message-ID of a write: a function of its idempotency key alone."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"<{digest[:MESSAGE_ID_HEX]}@{MESSAGE_ID_DOMAIN}>"


def build_email(
    *,
    sender: str,
    contact: str,
    notes_address: str,
    subject: str,
    body: str,
    idempotency_key: str,
    now: dt.datetime,
) -> Email:
    """The message and envelope of one write; ValueError when an address is not one.

    ``subject`` must be one line (`crm.ixact.texts.one_line`); ``now`` is aware.
    """
    for name, address in (("sender", sender), ("contact", contact), ("notes", notes_address)):
        if not is_address(address):
            raise ValueError(f"the {name} address {address!r} is not a plain email address")
    # policy.SMTP: CRLF line ends, as the wire wants them; headers are encoded as needed.
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = contact
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = message_id(idempotency_key)
    lines = body.splitlines() or [""]
    plain = body.isascii() and max(len(line) for line in lines) <= LINE_MAX
    message.set_content(
        body, subtype="plain", charset="utf-8", cte="7bit" if plain else "quoted-printable"
    )
    return Email(message=message, envelope=Envelope(mail_from=sender, rcpt_to=notes_address))


def text_of(message: EmailMessage) -> str:
    """The message's text body, decoded, with ``\n`` line ends (what IXACT keeps)."""
    content = message.get_content()
    # Quoted-printable carries the wire's CRLF into the decoded text.
    return content.replace("\r\n", "\n") if isinstance(content, str) else ""
