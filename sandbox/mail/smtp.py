"""The SMTP side of the sandbox mail server: an aiosmtpd handler, its logins and its faults.

    controller = smtp_controller(state, host="127.0.0.1", port=0, tls_context=None)
    controller.start()           # its own thread and event loop; controller.port is bound
    ...
    controller.stop()

The server speaks ESMTP (aiosmtpd) with AUTH PLAIN and LOGIN, and STARTTLS when given a TLS
context (or implicit TLS, for a port-465 style server). Without TLS it offers AUTH in the
clear, which is acceptable only because it then listens on loopback (`sandbox.mail.server`
refuses any other address); with STARTTLS, AUTH and MAIL are refused until the client has
started TLS, as a real submission server does. AUTH is optional unless `require_auth`.
Every message, from any sender to any recipient, is kept (`sandbox.mail.state`); nothing is
ever relayed.

Injected faults (`sandbox.mail.faults`) act where a client sees them: the reply line to AUTH,
MAIL FROM or to DATA's final dot, a connection closed just after the 250 line has been
written, or a DATA never answered.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import contextlib
import logging
import ssl
import weakref
from typing import Any, NoReturn

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.mail.faults import Fault
from sandbox.mail.state import MailState
from socialbridge.logs import get_logger

log = get_logger(__name__)

SERVER_NAME = "sandbox-mail.localhost"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# How long a silent client is kept: a no_answer fault holds its session at most this long.
IDLE_TIMEOUT_SECONDS = 300.0
# How long stopping waits for the open connections to be closed.
SESSION_CLOSE_SECONDS = 2.0

# aiosmtpd warns on every successful AUTH that a deprecated attribute was set, which is its
# own doing; its errors still show.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class MailHandler:
    """aiosmtpd's handler: checks MAIL against the faults and `require_auth`, keeps each
    message DATA carries, and plays the DATA faults."""

    def __init__(self, state: MailState, *, require_auth: bool = False) -> None:
        self.state = state
        self.require_auth = require_auth
        self._refused: weakref.WeakSet[Session] = weakref.WeakSet()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        fault = self.state.faults.take(lambda f: f.waits_for == "MAIL")
        if fault is not None:
            return await _reply(server, fault)
        # A hook that answers takes over what aiosmtpd would otherwise do itself.
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.state.faults.take(lambda f: f.waits_for == "DATA")
        if fault is not None and fault.kind == "reply":
            return await _reply(server, fault)
        content = envelope.original_content or b""
        kept = self.state.keep(
            envelope_from=envelope.mail_from or "",
            envelope_to=envelope.rcpt_tos,
            content=content,
            auth_user=session.auth_data if isinstance(session.auth_data, str) else None,
            tls=_uses_tls(server),
        )
        answer = f"250 2.0.0 OK: kept as message {kept['id']}"
        log.info(
            "sandbox_mail.message",
            id=kept["id"],
            envelope_to=kept["envelope_to"],
            message_id=kept["message_id"],
            fault=None if fault is None else fault.kind,
        )
        if fault is None:
            return answer
        if fault.kind == "close_after_250":
            await server.push(answer)
            _hang_up(server)
        # no_answer: the message is kept, and its 250 never comes. This session waits here
        # until aiosmtpd cancels it: the client closed, the idle timeout ran out, or the
        # server is stopping. Other sessions run on, each in its own task.
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable: the future above is never resolved")

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator: a known login and its password, unless a fault says 535.
        What the session remembers is the login alone, never the password."""
        if (
            session in self._refused
            or self.state.faults.take(lambda f: f.waits_for == "AUTH") is not None
        ):
            # An auth_fail fault holds for the whole session: clients such as smtplib try
            # their next mechanism after a 535, and that one must be refused too.
            self._refused.add(session)
            return AuthResult(success=False, handled=False)
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        if not self.state.password_matches(login, data.password):
            log.info("sandbox_mail.auth_refused", login=login, mechanism=mechanism)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)


async def _reply(server: SMTP, fault: Fault) -> str:
    """A fault's reply line; a 421 is written at once and the connection closed after it."""
    line = fault.reply_line
    if fault.code == 421:
        await server.push(line)
        _hang_up(server)
    return line


def _hang_up(server: SMTP) -> NoReturn:
    """Close the connection after what was written, and end this session's task.

    close() lets the written reply reach the client first. The session task must not go on
    to write anything else, so it ends here as aiosmtpd ends a session on QUIT: cancelled
    (its command loop closes the writer and finishes quietly)."""
    if server.transport is not None:
        server.transport.close()
    raise asyncio.CancelledError


def _uses_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _TrackedSMTP(SMTP):
    """aiosmtpd's SMTP session, listed in `live` while its connection is open."""

    def __init__(self, live: set[SMTP], handler: MailHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._live = live

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._live.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0 and to stop cleanly while
    sessions are open (a no_answer fault holds one on purpose)."""

    def __init__(self, handler: MailHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._live: set[SMTP] = set()

    def factory(self) -> SMTP:
        return _TrackedSMTP(self._live, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # The controller connects once to its own port to check the server works; with port 0
        # the system chose the port, so learn it first.
        if isinstance(self.server, asyncio.base_events.Server) and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # unannotated in aiosmtpd

    def stop(self, no_assert: bool = False) -> None:
        # aiosmtpd's stop() cancels the sessions' tasks and closes the loop at once, before
        # a TLS connection has finished closing: its socket would be left open. Close every
        # connection first, while the loop still runs.
        if self._thread is not None and self.loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._hang_up_all(), self.loop)
            with contextlib.suppress(Exception):
                closing.result(timeout=SESSION_CLOSE_SECONDS + 1)
        super().stop(no_assert)

    async def _hang_up_all(self) -> None:
        for session in list(self._live):
            if isinstance(session.transport, asyncio.Transport):
                session.transport.abort()
        deadline = self.loop.time() + SESSION_CLOSE_SECONDS
        while self._live and self.loop.time() < deadline:
            await asyncio.sleep(0.01)


def smtp_controller(
    state: MailState,
    *,
    host: str,
    port: int,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    require_auth: bool = False,
) -> Controller:
    """An unstarted controller of the sandbox's SMTP server on `host:port`.

    With `tls_context`, the server offers STARTTLS and refuses AUTH and MAIL before it;
    with `implicit_tls` as well, the connection is TLS from its first byte instead."""
    handler = MailHandler(state, require_auth=require_auth)
    starttls = tls_context if tls_context is not None and not implicit_tls else None
    controller: Controller = _Controller(
        handler,
        hostname=host,
        port=port,
        ssl_context=tls_context if implicit_tls else None,
        server_hostname=SERVER_NAME,
        ident="Sandbox mail (aiosmtpd)",
        tls_context=starttls,
        require_starttls=starttls is not None,
        # On loopback without TLS (a sandbox only), AUTH may go in the clear; with implicit
        # TLS every byte is encrypted, which aiosmtpd cannot tell from its STARTTLS flag.
        auth_require_tls=starttls is not None,
        authenticator=handler.authenticate,
        data_size_limit=MAX_MESSAGE_BYTES,
        timeout=IDLE_TIMEOUT_SECONDS,
    )
    return controller
