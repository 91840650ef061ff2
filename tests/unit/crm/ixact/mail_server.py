"""A real SMTP server (aiosmtpd) in a thread of the test, with the faults the tests need.

    with MailServer(tls=context, users={"agent@example.com": "pw"}) as server:
        server.fail_next("reply", code=421)      # answer the next DATA with 421
        ...
        server.messages                          # every message it kept

Faults, each for the next DATA once (queued in order):

    reply            answer DATA with ``code`` and keep nothing
    close_after_250  keep the message, answer 250, then hang up before QUIT
    no_answer        keep the message and never answer (the client gives up)

With ``tls`` the server offers STARTTLS and wants it before AUTH; with ``implicit_tls`` it
speaks TLS from the first byte (smtp_security=tls). With ``users`` it offers AUTH (PLAIN,
LOGIN), and wants it before MAIL when it has STARTTLS.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Received:
    """One message the server kept: its envelope and the message as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


@dataclass(frozen=True)
class _Fault:
    kind: str
    code: int = 0


class _Handler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self.messages: list[Received] = []
        self.logins: list[str] = []

    def add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self._next_fault()
        if fault is not None and fault.kind == "reply":
            words = "4.3.0 try again later" if fault.code < 500 else "5.7.1 refused by the test"
            return f"{fault.code} {words}"
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=bytes(envelope.original_content),
        )
        with self._lock:
            self.messages.append(received)
        if fault is not None and fault.kind == "close_after_250":
            # Queued after the 250 that aiosmtpd writes when this returns.
            asyncio.get_running_loop().call_soon(server.transport.close)
        elif fault is not None and fault.kind == "no_answer":
            # Cancelled when the server stops; the client has given up long before.
            await asyncio.Event().wait()
        return "250 2.0.0 kept"


class _Controller(Controller):
    """aiosmtpd's controller on a port the system picks (it would probe port 0)."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailServer:
    """An SMTP server on 127.0.0.1; ``port`` once started, ``messages`` what it kept."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self._handler = _Handler()
        self._users = dict(users or {})
        options: dict[str, Any] = {}
        if tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        if implicit_tls is not None:
            options["ssl_context"] = implicit_tls
        if self._users:
            # Without TLS, AUTH is offered in clear (loopback, like smtp_security=none) but
            # not demanded: aiosmtpd warns about demanding it there, and warnings fail tests.
            options.update(
                authenticator=self._authenticate,
                auth_required=tls is not None,
                auth_require_tls=tls is not None,
            )
        self._controller = _Controller(
            self._handler,
            hostname="127.0.0.1",
            port=0,
            server_hostname="localhost",
            ready_timeout=READY_TIMEOUT,
            **options,
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[Received]:
        return list(self._handler.messages)

    @property
    def logins(self) -> list[str]:
        return list(self._handler.logins)

    def fail_next(self, kind: str, *, code: int = 0) -> None:
        self._handler.add_fault(_Fault(kind, code))

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user = data.login.decode("utf-8", "replace")
            if self._users.get(user) == data.password.decode("utf-8", "replace"):
                self._handler.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
