"""STARTTLS (and implicit TLS) with a throw-away certificate the client trusts by file."""

from __future__ import annotations

import gc
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.mail.server import MailSandbox, server_tls_context
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER
from tests.tlsutil import make_self_signed
from tests.unit.sandbox.mail.conftest import NOTES, new_message, wait_until


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_self_signed(tmp_path)


@pytest.fixture
def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """Trusts the throw-away certificate alone, as a connector given it as its CA file."""
    context = ssl.create_default_context(cafile=str(certificate[0]))
    # What newer Pythons check by default: the certificate must pass it already.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


@pytest.fixture
def tls_mail(certificate: tuple[Path, Path]) -> Iterator[MailSandbox]:
    with MailSandbox(tls_context=server_tls_context(*certificate)) as sandbox:
        yield sandbox


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_starttls_then_auth_then_send(
    tls_mail: MailSandbox, client_context: ssl.SSLContext, host: str
) -> None:
    with smtplib.SMTP(host, tls_mail.smtp_port, timeout=10) as client:
        client.starttls(context=client_context)
        client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
        client.send_message(new_message(), to_addrs=[NOTES])

    [kept] = tls_mail.messages()
    assert (kept["tls"], kept["auth_user"]) == (True, DEMO_SMTP_USER)
    assert kept["subject"] == 'GHL tags for "Spring open house"'


def test_auth_is_not_offered_before_starttls(tls_mail: MailSandbox) -> None:
    with smtplib.SMTP("127.0.0.1", tls_mail.smtp_port, timeout=10) as client:
        code, features = client.ehlo()
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
        # A client that sends AUTH anyway is refused as well.
        auth_code, _ = client.docmd("AUTH", "PLAIN")

    assert code == 250
    assert b"STARTTLS" in features
    assert b"AUTH" not in features
    assert auth_code == 530


def test_mail_is_refused_before_starttls(tls_mail: MailSandbox) -> None:
    with (
        smtplib.SMTP("127.0.0.1", tls_mail.smtp_port, timeout=10) as client,
        pytest.raises(smtplib.SMTPSenderRefused) as refused,
    ):
        client.send_message(new_message(), to_addrs=[NOTES])

    assert refused.value.smtp_code == 530
    assert tls_mail.messages() == []


def test_a_client_that_does_not_trust_the_certificate_gives_up(tls_mail: MailSandbox) -> None:
    # The system's CAs do not know a certificate made a moment ago.
    with (
        smtplib.SMTP("127.0.0.1", tls_mail.smtp_port, timeout=10) as client,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.starttls(context=ssl.create_default_context())


def test_implicit_tls_from_the_first_byte(
    certificate: tuple[Path, Path], client_context: ssl.SSLContext
) -> None:
    context = server_tls_context(*certificate)
    with MailSandbox(tls_context=context, implicit_tls=True) as mail:
        with smtplib.SMTP_SSL("127.0.0.1", mail.smtp_port, timeout=10, context=client_context) as c:
            c.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
            c.send_message(new_message(), to_addrs=[NOTES])

        [kept] = mail.messages()
        assert (kept["tls"], kept["auth_user"]) == (True, DEMO_SMTP_USER)


def test_implicit_tls_needs_a_context() -> None:
    with pytest.raises(ValueError, match="implicit_tls needs a tls_context"):
        MailSandbox(implicit_tls=True)


def test_stopping_closes_a_tls_session_held_by_a_fault(
    certificate: tuple[Path, Path], client_context: ssl.SSLContext
) -> None:
    mail = MailSandbox(tls_context=server_tls_context(*certificate)).start()
    mail.add_fault(kind="no_answer")
    with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=30) as client:
        client.starttls(context=client_context)
        client.ehlo()
        client.mail("agent@example.com")
        client.rcpt(NOTES)
        assert client.docmd("DATA")[0] == 354
        client.send(b"Subject: held\r\n\r\nbody\r\n.\r\n")
        wait_until(lambda: len(mail.messages()) == 1)

        mail.stop()

        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.getreply()
    # A server-side socket left open would warn when collected, and warnings are errors.
    gc.collect()
