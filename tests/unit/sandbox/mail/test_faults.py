"""Injected faults, each as a client sees it on the wire."""

from __future__ import annotations

import smtplib
import socket

import pytest
from marshmallow import ValidationError

from sandbox.mail.server import MailSandbox
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER
from tests.unit.sandbox.mail.conftest import NOTES, SENDER, new_message, wait_until


def connect(mail: MailSandbox, timeout: float = 10) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=timeout)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server writes until it closes the connection."""
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def raw_session(mail: MailSandbox) -> socket.socket:
    """A plain socket through EHLO, MAIL and RCPT, ready for DATA (replies read)."""
    sock = socket.create_connection(("127.0.0.1", mail.smtp_port), timeout=10)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"220 ")
    sock.sendall(b"HELO client.example\r\n")
    assert reader.readline().startswith(b"250 ")
    sock.sendall(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{NOTES}>\r\nDATA\r\n".encode())
    assert [reader.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
    reader.close()  # the socket stays open: makefile() holds only a reference
    return sock


def test_a_421_to_data_keeps_nothing_and_the_retry_is_delivered(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=421)

    with connect(mail) as client, pytest.raises(smtplib.SMTPDataError) as refused:
        client.send_message(new_message(), to_addrs=[NOTES])
    assert mail.messages() == []
    with connect(mail) as client:
        client.send_message(new_message(), to_addrs=[NOTES])

    assert refused.value.smtp_code == 421
    assert b"closing transmission channel" in refused.value.smtp_error
    assert [m["message_id"] for m in mail.messages()] == ["<write-1@socialbridge.example>"]


def test_a_421_closes_the_connection_after_its_reply_line(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=421)

    with raw_session(mail) as sock:
        sock.sendall(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        answer = read_to_end(sock)

    assert answer.startswith(b"421 4.3.2 ")
    assert answer.count(b"\r\n") == 1


def test_a_451_to_data_leaves_the_session_usable(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=451, message="4.3.0 Mailbox busy, try later")

    with connect(mail) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(new_message(), to_addrs=[NOTES])
        client.send_message(new_message(), to_addrs=[NOTES])

    assert (refused.value.smtp_code, refused.value.smtp_error) == (
        451,
        b"4.3.0 Mailbox busy, try later",
    )
    assert len(mail.messages()) == 1


def test_a_reply_to_mail_refuses_the_sender(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=550, command="MAIL")

    with connect(mail) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(new_message(), to_addrs=[NOTES])
        client.send_message(new_message(), to_addrs=[NOTES])

    assert refused.value.smtp_code == 550
    assert len(mail.messages()) == 1


def test_a_421_to_mail_closes_the_connection(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=421, command="MAIL")

    with socket.create_connection(("127.0.0.1", mail.smtp_port), timeout=10) as sock:
        sock.sendall(f"HELO client.example\r\nMAIL FROM:<{SENDER}>\r\n".encode())
        lines = read_to_end(sock).splitlines()

    assert [line[:4] for line in lines] == [b"220 ", b"250 ", b"421 "]
    assert mail.messages() == []


def test_times_counts_the_commands_answered(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=452, times=2)
    codes = []

    with connect(mail) as client:
        for _ in range(3):
            try:
                client.send_message(new_message(), to_addrs=[NOTES])
                codes.append(250)
            except smtplib.SMTPDataError as refused:
                codes.append(refused.smtp_code)

    assert codes == [452, 452, 250]
    assert len(mail.messages()) == 1


def test_close_after_250_delivers_and_then_the_quit_fails(mail: MailSandbox) -> None:
    mail.add_fault(kind="close_after_250")
    client = connect(mail)

    refused = client.send_message(new_message(), to_addrs=[NOTES])
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.quit()
    client.close()

    assert refused == {}
    assert [m["message_id"] for m in mail.messages()] == ["<write-1@socialbridge.example>"]


def test_close_after_250_writes_the_250_line_alone_then_closes(mail: MailSandbox) -> None:
    mail.add_fault(kind="close_after_250")

    with raw_session(mail) as sock:
        sock.sendall(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        answer = read_to_end(sock)

    assert answer == b"250 2.0.0 OK: kept as message 1\r\n"
    assert len(mail.messages()) == 1


def test_no_answer_keeps_the_message_and_never_answers(mail: MailSandbox) -> None:
    mail.add_fault(kind="no_answer")
    client = connect(mail, timeout=30)
    client.ehlo()
    client.mail(SENDER)
    client.rcpt(NOTES)
    code, _ = client.docmd("DATA")
    assert code == 354

    client.send(new_message().as_bytes().replace(b"\n", b"\r\n") + b".\r\n")
    wait_until(lambda: len(mail.messages()) == 1)
    # Held: other sessions are served all the same.
    with connect(mail) as other:
        other.send_message(
            new_message(message_id="<write-2@socialbridge.example>"), to_addrs=[NOTES]
        )
    # The held session's client gives up waiting for its 250.
    assert client.sock is not None
    client.sock.settimeout(0.2)
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        client.getreply()
    client.close()

    assert [m["message_id"] for m in mail.messages()] == [
        "<write-1@socialbridge.example>",
        "<write-2@socialbridge.example>",
    ]


def test_a_held_session_ends_when_the_server_stops() -> None:
    mail = MailSandbox().start()
    mail.add_fault(kind="no_answer")
    with raw_session(mail) as sock:
        sock.sendall(b"Subject: held\r\n\r\nbody\r\n.\r\n")
        wait_until(lambda: len(mail.messages()) == 1)

        mail.stop()

        assert read_to_end(sock) == b""


def test_auth_fail_refuses_every_mechanism_of_one_session(mail: MailSandbox) -> None:
    mail.add_fault(kind="auth_fail")

    with connect(mail) as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        # smtplib tries PLAIN, then LOGIN after the first 535: both are refused.
        client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
    with connect(mail) as client:
        code, _ = client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)

    assert refused.value.smtp_code == 535
    assert code == 235


def test_faults_wait_for_their_own_command(mail: MailSandbox) -> None:
    mail.add_fault(kind="reply", code=421)
    mail.add_fault(kind="auth_fail")

    with connect(mail) as client, pytest.raises(smtplib.SMTPAuthenticationError):
        client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
    assert [f.kind for f in mail.state.faults.pending()] == ["reply"]
    with connect(mail) as client, pytest.raises(smtplib.SMTPDataError):
        client.send_message(new_message(), to_addrs=[NOTES])

    assert mail.state.faults.pending() == []


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"kind": "bounce"}, "kind"),
        ({"kind": "reply"}, "code"),
        ({"kind": "reply", "code": 250}, "code"),
        ({"kind": "reply", "code": 421, "command": "RCPT"}, "command"),
        ({"kind": "reply", "code": 421, "message": "two\r\nlines"}, "message"),
        ({"kind": "no_answer", "code": 421}, "code"),
        ({"kind": "auth_fail", "command": "MAIL"}, "command"),
        ({"kind": "close_after_250", "times": 0}, "times"),
        ({"kind": "no_answer", "delay_ms": 5}, "delay_ms"),
    ],
)
def test_a_fault_that_cannot_be_played_is_refused(
    mail: MailSandbox, fault: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        mail.add_fault(**fault)

    assert field in refused.value.messages
    assert mail.state.faults.pending() == []
