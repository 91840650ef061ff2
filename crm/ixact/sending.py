"""Sending one email over SMTP (smtplib), and what the mail server's answers mean.

Each send is one SMTP session: connect (``SMTP_SSL`` for ``tls``), STARTTLS for
``starttls`` (the certificate checked against the system's CAs, or only ``smtp_ca_file``'s
when set), AUTH when ``smtp_user`` is set, then MAIL FROM / RCPT TO / DATA, then QUIT. Every
socket operation times out after the app's ``crm_timeout``.

How the server's answers are read, at any stage before the DATA's 250:

    4xx (421 included)              RetryableError: the server asks us to come back later
    535, 530, any 5xx to AUTH       AuthError: the login was refused, or one is required
    other 5xx                       PermanentError carrying the server's text
    network error, timeout,         RetryableError
    connection closed
    certificate not trusted         PermanentError naming smtp_ca_file: retrying cannot help
    STARTTLS not offered            PermanentError: we never send in clear when told not to
    AUTH not offered                AuthError

Once the DATA's 250 is read the message is the server's: whatever happens at QUIT (the
server hangs up, or never answers) the send succeeded. Messages name the server by
`SmtpSettings.url` and never hold the password (a server's text is scrubbed of it too).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass

from crm.ixact.message import Email
from crm.ixact.settings import Security, SmtpSettings
from crm.ixact.texts import one_line
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError

SYSTEM = "crm"
SERVER_TEXT_MAX = 300
MASK = "***"

CONNECT = "connect"
STARTTLS = "starttls"
LOGIN = "login"
SEND = "send"
NOOP = "noop"


@dataclass
class _Stage:
    """Where a session is, so an error can say what failed."""

    name: str = CONNECT


class SmtpSender:
    """Sends messages through one connection's mail server; holds no open session."""

    def __init__(self, settings: SmtpSettings, *, timeout: float) -> None:
        self._settings = settings
        self._timeout = timeout

    @property
    def settings(self) -> SmtpSettings:
        return self._settings

    def send(self, email: Email) -> None:
        """Send ``email`` to its envelope's recipient; returns once the server said 250."""
        stage = _Stage()
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._open(stage)
            stage.name = SEND
            smtp.send_message(
                email.message,
                from_addr=email.envelope.mail_from,
                to_addrs=[email.envelope.rcpt_to],
            )
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                smtp.close()
            raise self.error(exc, stage.name) from exc
        _quit(smtp)

    def check(self) -> str:
        """Connect, secure, log in, NOOP and QUIT: a human message, or IntegrationError."""
        stage = _Stage()
        smtp: smtplib.SMTP | None = None
        started = time.perf_counter()
        try:
            smtp = self._open(stage)
            stage.name = NOOP
            code, text = smtp.noop()
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                smtp.close()
            raise self.error(exc, stage.name) from exc
        if code != 250:
            smtp.close()
            raise self._answer_error(code, text, NOOP)
        _quit(smtp)
        elapsed = round((time.perf_counter() - started) * 1000)
        return (
            f"SMTP server {self._settings.url} answered in {elapsed} ms "
            f"({self._settings.describe()}); mail will go from {self._settings.sender} "
            f"to {self._settings.notes_address} only"
        )

    # --- the session ----------------------------------------------------------------------

    def _open(self, stage: _Stage) -> smtplib.SMTP:
        """A connected, secured and logged-in session (closed again if any step fails)."""
        settings = self._settings
        context = ssl.create_default_context(cafile=settings.ca_file)
        smtp: smtplib.SMTP
        if settings.security is Security.TLS:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=self._timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=self._timeout)
        try:
            if settings.security is Security.STARTTLS:
                stage.name = STARTTLS
                smtp.starttls(context=context)
            if settings.user:
                stage.name = LOGIN
                smtp.login(settings.user, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    # --- errors ---------------------------------------------------------------------------

    def error(self, exc: Exception, stage: str) -> IntegrationError:
        """The protocol's error for what smtplib or the socket raised at ``stage``."""
        where = f"the SMTP server {self._settings.url}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()), (-1, b""))
            return self._answer_error(code, text, stage)
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._answer_error(exc.smtp_code, exc.smtp_error, stage)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if stage == STARTTLS:
                return PermanentError(
                    f"{where} does not offer STARTTLS, and smtp_security=starttls forbids "
                    "sending in clear (use smtp_security=tls if the port speaks TLS at once)",
                    system=SYSTEM,
                )
            if stage == LOGIN:
                return AuthError(
                    f"{where} does not offer a login (AUTH) on this connection; check "
                    "smtp_security, or remove smtp_user if the server takes mail without one",
                    system=SYSTEM,
                )
            return PermanentError(f"{where}: {self._scrub(str(exc))}", system=SYSTEM)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            reason = self._scrub(str(exc)) or "connection closed"
            return RetryableError(
                f"{where} closed the connection or stopped answering ({stage}): {reason}",
                system=SYSTEM,
            )
        if isinstance(exc, smtplib.SMTPException):
            # smtplib's other words (SMTPException is an OSError: it is read first). At login,
            # it is the one for a server whose AUTH mechanisms smtplib speaks none of.
            said = self._scrub(str(exc))
            if stage == LOGIN:
                return AuthError(f"{where} refused the login: {said}", system=SYSTEM)
            return RetryableError(f"{where} failed ({stage}): {said}", system=SYSTEM)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentError(
                f"{where}'s certificate is not trusted ({exc.verify_message}); if it is signed "
                "by a private CA, set smtp_ca_file to that CA's PEM file",
                system=SYSTEM,
            )
        if isinstance(exc, ssl.SSLError):
            return RetryableError(
                f"TLS with {where} failed ({getattr(exc, 'reason', None) or exc}); check "
                "smtp_security and smtp_port",
                system=SYSTEM,
            )
        if isinstance(exc, TimeoutError):
            return RetryableError(f"{where} did not answer in time ({stage})", system=SYSTEM)
        if isinstance(exc, OSError):
            reason = str(exc) or type(exc).__name__
            return RetryableError(f"{where} is unreachable ({stage}): {reason}", system=SYSTEM)
        return RetryableError(f"{where} failed ({stage}): {self._scrub(str(exc))}", system=SYSTEM)

    def _answer_error(self, code: int, text: bytes | str, stage: str) -> IntegrationError:
        where = f"the SMTP server {self._settings.url}"
        said = self._server_text(code, text)
        if 400 <= code < 500:
            return RetryableError(
                f"{where} asked to try again later ({stage}): {said}", system=SYSTEM
            )
        if code == 535 or (stage == LOGIN and 500 <= code < 600):
            who = self._settings.user or "(no user)"
            return AuthError(
                f"{where} refused the login of {who}: {said}; check smtp_user and smtp_password",
                system=SYSTEM,
            )
        if code == 530:
            return AuthError(
                f"{where} requires a login or TLS first ({stage}): {said}; check smtp_user, "
                "smtp_password and smtp_security",
                system=SYSTEM,
            )
        if 500 <= code < 600:
            return PermanentError(f"{where} refused the message ({stage}): {said}", system=SYSTEM)
        return RetryableError(f"{where} gave an unexpected answer ({stage}): {said}", system=SYSTEM)

    def _server_text(self, code: int, text: bytes | str) -> str:
        decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return one_line(f"{code} {self._scrub(decoded)}", limit=SERVER_TEXT_MAX)

    def _scrub(self, text: str) -> str:
        password = self._settings.password
        return text.replace(password, MASK) if password else text


def _quit(smtp: smtplib.SMTP) -> None:
    """End a session whose work is done: its QUIT's answer, or the lack of one, changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
