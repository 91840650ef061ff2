"""The SMTP server as a client sees it: sending, AUTH, and what is kept of each message."""

from __future__ import annotations

import json
import smtplib
import socket

import pytest

from sandbox.mail.server import MailSandbox
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER
from tests.unit.sandbox.mail.conftest import NOTES, SENDER, new_message


def connect(mail: MailSandbox) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=10)


def test_a_message_sent_without_auth_is_kept_with_its_envelope(mail: MailSandbox) -> None:
    with connect(mail) as client:
        refused = client.send_message(new_message(), from_addr=SENDER, to_addrs=[NOTES])

    assert refused == {}
    [kept] = mail.messages()
    assert kept["id"] == 1
    assert kept["envelope_from"] == SENDER
    # The envelope went to the notes address; the To header names the contact alone.
    assert kept["envelope_to"] == [NOTES]
    assert kept["to"] == "avery@example.com"
    assert kept["from"] == SENDER
    assert kept["cc"] is None
    assert kept["subject"] == 'GHL tags for "Spring open house"'
    assert kept["message_id"] == "<write-1@socialbridge.example>"
    assert kept["text"] == "Tags: open-house, spring\n"
    assert kept["headers"]["Message-ID"] == "<write-1@socialbridge.example>"
    assert kept["auth_user"] is None
    assert kept["tls"] is False
    assert kept["received_at"].endswith("Z")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_with_the_demo_login_is_recorded_by_login_only(
    mail: MailSandbox, mechanism: str
) -> None:
    with connect(mail) as client:
        client.ehlo()
        client.user, client.password = DEMO_SMTP_USER, DEMO_SMTP_PASSWORD
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.send_message(new_message(), to_addrs=[NOTES])

    [kept] = mail.messages()
    assert kept["auth_user"] == DEMO_SMTP_USER
    assert DEMO_SMTP_PASSWORD not in json.dumps(kept)


def test_a_wrong_password_is_refused_with_535(mail: MailSandbox) -> None:
    with connect(mail) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(DEMO_SMTP_USER, "not-the-password")

    assert refused.value.smtp_code == 535


def test_an_unknown_login_is_refused_with_535(mail: MailSandbox) -> None:
    with connect(mail) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login("nobody@example.com", DEMO_SMTP_PASSWORD)

    assert refused.value.smtp_code == 535


def test_other_logins_can_be_given() -> None:
    with (
        MailSandbox(users={"office@example.com": "s3cret"}) as mail,
        connect(mail) as client,
    ):
        client.login("office@example.com", "s3cret")
        client.send_message(new_message(), to_addrs=[NOTES])
        with connect(mail) as other, pytest.raises(smtplib.SMTPAuthenticationError):
            other.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)

        assert mail.messages()[0]["auth_user"] == "office@example.com"


def test_when_auth_is_required_mail_without_it_is_refused_with_530() -> None:
    with MailSandbox(require_auth=True) as mail:
        with connect(mail) as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(new_message(), to_addrs=[NOTES])
        with connect(mail) as client:
            client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
            client.send_message(new_message(), to_addrs=[NOTES])

        assert refused.value.smtp_code == 530
        assert [m["auth_user"] for m in mail.messages()] == [DEMO_SMTP_USER]


def test_every_recipient_of_the_envelope_is_kept_and_nothing_is_relayed(
    mail: MailSandbox,
) -> None:
    message = new_message(to="avery@example.com")
    message["Cc"] = "chidi@example.com"

    with connect(mail) as client:
        client.send_message(message, to_addrs=[NOTES, "bcc@example.com"])

    [kept] = mail.messages()
    assert kept["envelope_to"] == [NOTES, "bcc@example.com"]
    assert kept["cc"] == "chidi@example.com"


def test_messages_are_numbered_in_the_order_taken(mail: MailSandbox) -> None:
    with connect(mail) as client:
        for number in range(1, 4):
            client.send_message(new_message(f"subject {number}"), to_addrs=[NOTES])

    assert [(m["id"], m["subject"]) for m in mail.messages()] == [
        (1, "subject 1"),
        (2, "subject 2"),
        (3, "subject 3"),
    ]


def test_a_non_ascii_subject_and_body_come_back_decoded(mail: MailSandbox) -> None:
    message = new_message('GHL tags for "Café à Zürich"', "Tags: été, 東京\n")

    with connect(mail) as client:
        client.send_message(message, to_addrs=[NOTES])

    [kept] = mail.messages()
    assert kept["subject"] == 'GHL tags for "Café à Zürich"'
    assert kept["text"] == "Tags: été, 東京\n"


def test_the_server_answers_noop_and_names_itself(mail: MailSandbox) -> None:
    with connect(mail) as client:
        code, _ = client.noop()
        ehlo_code, features = client.ehlo()

    assert code == 250
    assert ehlo_code == 250
    assert b"AUTH LOGIN PLAIN" in features
    assert b"STARTTLS" not in features


def test_a_public_address_is_refused_without_tls() -> None:
    with pytest.raises(ValueError, match="loopback address only"):
        MailSandbox(host="0.0.0.0")


def test_the_ports_are_unknown_until_started() -> None:
    sandbox = MailSandbox()

    with pytest.raises(RuntimeError, match="call start"):
        _ = sandbox.smtp_port
    with pytest.raises(RuntimeError, match="call start"):
        _ = sandbox.http_url


def test_an_http_port_in_use_leaves_neither_server_running() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sandbox = MailSandbox(http_port=taken.getsockname()[1])

        with pytest.raises(OSError, match="cannot listen"):
            sandbox.start()

    assert repr(sandbox) == "<MailSandbox stopped>"


def test_stop_is_idempotent_and_closes_the_port() -> None:
    sandbox = MailSandbox().start()
    port = sandbox.smtp_port

    sandbox.stop()
    sandbox.stop()

    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)
    assert repr(sandbox) == "<MailSandbox stopped>"
