"""Fixtures of the mail sandbox's tests: a running sandbox, messages to send, a patient wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest

from sandbox.mail.server import MailSandbox

NOTES = "notes@ixactcontact.com"
SENDER = "agent@example.com"


@pytest.fixture
def mail() -> Iterator[MailSandbox]:
    """A mail sandbox on loopback, free ports, no TLS, kept in memory."""
    with MailSandbox() as sandbox:
        yield sandbox


def new_message(
    subject: str = 'GHL tags for "Spring open house"',
    text: str = "Tags: open-house, spring\n",
    *,
    to: str = "avery@example.com",
    message_id: str = "<write-1@socialbridge.example>",
) -> EmailMessage:
    """A message as the IXACT connector sends one: From the sender, To the contact."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(text)
    return message


def wait_until(done: Callable[[], bool], within: float = 10.0) -> None:
    """Wait for `done()`; fail after `within` seconds (generous: never a timing assertion)."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"still not done after {within} s")
        time.sleep(0.01)
