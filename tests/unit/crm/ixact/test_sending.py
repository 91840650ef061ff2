"""What each SMTP answer or failure becomes, by the exceptions smtplib and ssl raise.

The same mapping is exercised against a real server in test_connector; here every branch is
taken directly, including answers a test server does not easily give.
"""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest

from crm.ixact.sending import CONNECT, LOGIN, SEND, STARTTLS, SmtpSender
from crm.ixact.settings import Security, SmtpSettings
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError

PASSWORD = "pw-5e3f9a"
SETTINGS = SmtpSettings(
    host="smtp.example.com",
    port=587,
    security=Security.STARTTLS,
    sender="agent@example.com",
    user="agent@example.com",
    password=PASSWORD,
)


def error(exc: Exception, stage: str = SEND) -> IntegrationError:
    return SmtpSender(SETTINGS, timeout=5).error(exc, stage)


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPDataError(421, b"4.3.0 try again later"),
        smtplib.SMTPSenderRefused(451, b"4.3.0 greylisted", "agent@example.com"),
        smtplib.SMTPRecipientsRefused({"notes@ixactcontact.com": (452, b"4.2.2 mailbox full")}),
        smtplib.SMTPConnectError(421, b"4.7.0 too many connections"),
    ],
)
def test_a_4xx_answer_at_any_stage_is_retryable(exc: Exception) -> None:
    found = error(exc)
    assert type(found) is RetryableError
    assert "asked to try again later" in found.message
    assert str(exc.args[0]) in found.message or "452" in found.message


def test_535_is_an_auth_error_naming_the_login_not_the_password() -> None:
    found = error(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), LOGIN)

    assert type(found) is AuthError
    assert "refused the login of agent@example.com: 535 5.7.8 bad credentials" in found.message
    assert "check smtp_user and smtp_password" in found.message
    assert PASSWORD not in found.message


def test_a_temporary_auth_failure_is_retryable() -> None:
    found = error(smtplib.SMTPAuthenticationError(454, b"4.7.0 try later"), LOGIN)
    assert type(found) is RetryableError


def test_530_asks_for_a_login_and_is_an_auth_error() -> None:
    found = error(smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "a@b.co"))
    assert type(found) is AuthError
    assert "requires a login or TLS first" in found.message


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPDataError(554, b"5.7.1 message refused"),
        smtplib.SMTPSenderRefused(550, b"5.7.1 sender not authorized", "agent@example.com"),
        smtplib.SMTPRecipientsRefused({"notes@ixactcontact.com": (550, b"5.1.1 no such user")}),
    ],
)
def test_other_5xx_answers_are_permanent_with_the_server_text(exc: Exception) -> None:
    found = error(exc)
    assert type(found) is PermanentError
    assert "refused the message (send): 55" in found.message
    assert "5." in found.message.split(": ", 1)[1]


def test_server_text_is_one_line_and_never_holds_the_password() -> None:
    found = error(smtplib.SMTPDataError(550, f"5.7.1 no\nway {PASSWORD}".encode()))
    assert found.message.endswith("refused the message (send): 550 5.7.1 no way ***")


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "closed the connection"),
        (TimeoutError("timed out"), "did not answer in time"),
        (ConnectionRefusedError(111, "Connection refused"), "is unreachable"),
        (socket.gaierror(-2, "Name or service not known"), "is unreachable"),
        (ssl.SSLError(1, "wrong version number"), "TLS with the SMTP server"),
    ],
)
def test_network_failures_are_retryable(exc: Exception, says: str) -> None:
    found = error(exc, CONNECT)
    assert type(found) is RetryableError
    assert says in found.message
    assert "smtp://smtp.example.com:587" in found.message


def test_an_untrusted_certificate_is_permanent_and_points_at_the_ca_setting() -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "self-signed certificate"
    found = error(exc, STARTTLS)
    assert type(found) is PermanentError
    assert "certificate is not trusted (self-signed certificate)" in found.message
    assert "smtp_ca_file" in found.message


def test_a_server_without_starttls_is_never_sent_to_in_clear() -> None:
    found = error(smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), STARTTLS)
    assert type(found) is PermanentError
    assert "does not offer STARTTLS" in found.message


def test_a_server_without_auth_is_an_auth_error() -> None:
    found = error(smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported"), LOGIN)
    assert type(found) is AuthError
    found = error(smtplib.SMTPException("No suitable authentication method found."), LOGIN)
    assert type(found) is AuthError


def test_an_unexpected_answer_is_retryable() -> None:
    found = error(smtplib.SMTPDataError(-1, b"garbage"))
    assert type(found) is RetryableError
    assert "unexpected answer" in found.message
