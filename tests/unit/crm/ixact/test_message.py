"""The email of one write and its envelope: headers, Message-ID, body encoding."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from crm.ixact.message import Email, build_email, message_id, text_of

NOW = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)
KEY = "evt_1.post.tags_synced"


def build(**overrides: Any) -> Email:
    values: dict[str, Any] = {
        "sender": "agent@example.com",
        "contact": "ann.lee@example.com",
        "notes_address": "notes@ixactcontact.com",
        "subject": 'GHL tags for "Open house"',
        "body": "Post tags (1): Listing\n",
        "idempotency_key": KEY,
        "now": NOW,
    }
    values.update(overrides)
    return build_email(**values)


def on_the_wire(email: Email) -> EmailMessage:
    """The message as a receiver parses the bytes smtplib would send."""
    return message_from_bytes(email.message.as_bytes(), policy=policy.default)


def test_from_is_the_sender_and_to_the_contact_alone() -> None:
    message = on_the_wire(build())

    assert message["From"] == "agent@example.com"
    assert message["To"] == "ann.lee@example.com"
    assert message["Cc"] is None
    assert message["Bcc"] is None
    assert message["Subject"] == 'GHL tags for "Open house"'
    assert message["Date"] == "Mon, 23 Nov 2026 10:00:05 +0000"
    assert message["Message-ID"] == message_id(KEY)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"


def test_the_envelope_goes_from_the_sender_to_the_notes_address_only() -> None:
    email = build()

    assert email.envelope.mail_from == "agent@example.com"
    assert email.envelope.rcpt_to == "notes@ixactcontact.com"


def test_the_message_id_is_a_function_of_the_key_alone() -> None:
    first = build(now=NOW).message_id
    later = build(now=NOW + dt.timedelta(hours=3), subject="other", body="other").message_id

    assert first == later == message_id(KEY)
    assert message_id("evt_2.post.tags_synced") != first
    assert message_id(KEY + " ") != first
    assert first.startswith("<")
    assert first.endswith("@socialbridge>")
    assert len(first.split("@")[0]) == 1 + 32


def test_an_ascii_body_is_sent_as_it_is() -> None:
    email = build(body="Post tags (1): Listing\nsocialbridge-id: x\n")

    assert email.message["Content-Transfer-Encoding"] == "7bit"
    assert b"Post tags (1): Listing\r\nsocialbridge-id: x\r\n" in email.message.as_bytes()


def test_a_non_ascii_body_and_subject_arrive_intact() -> None:
    body = "Étiquettes : Portes ouvertes, Printemps 🌷\n"
    email = build(subject='GHL tags for "Maison à vendre"', body=body)

    assert email.message["Content-Transfer-Encoding"] == "quoted-printable"
    email.message.as_bytes().decode("ascii")  # nothing 8-bit on the wire
    received = on_the_wire(email)
    assert received["Subject"] == 'GHL tags for "Maison à vendre"'
    assert text_of(received) == body


def test_a_body_with_a_line_too_long_for_smtp_is_wrapped_by_the_encoding() -> None:
    body = "Location tags: " + ", ".join(f"tag {n}" for n in range(300)) + "\n"
    email = build(body=body)

    assert email.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert max(len(line) for line in email.message.as_bytes().split(b"\r\n")) <= 78
    assert text_of(on_the_wire(email)) == body


@pytest.mark.parametrize("name", ["sender", "contact", "notes_address"])
@pytest.mark.parametrize(
    "address", ["", "ann", "Ann <ann@example.com>", "ann@example.com\r\nBcc: x@example.com"]
)
def test_an_address_that_is_not_one_is_refused(name: str, address: str) -> None:
    with pytest.raises(ValueError, match="is not a plain email address"):
        build(**{name: address})
