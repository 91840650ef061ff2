"""The sandbox mail server whole: its SMTP server and its HTTP pages, started and stopped
together, each in a thread of its own.

    with MailSandbox() as mail:                   # loopback, free ports
        with smtplib.SMTP("127.0.0.1", mail.smtp_port) as client:
            client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
            client.send_message(message, to_addrs=["notes@ixactcontact.com"])
        mail.messages()[-1]["subject"]            # or httpx.get(f"{mail.http_url}/messages")
        mail.add_fault(kind="reply", code=421)

`sandbox.mail.smtp` says how the SMTP server behaves, `sandbox.mail.app` what the HTTP
server answers, `sandbox.mail.faults` which faults it plays and `sandbox.mail.state` what
it keeps (with `data_dir`, across restarts).

The SMTP server takes AUTH without TLS when it has no TLS context, so it listens on a
loopback address only (127.0.0.0/8, ::1, localhost) unless given one.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from sandbox.mail.app import create_sandbox_mail_app
from sandbox.mail.faults import Fault, load_fault
from sandbox.mail.messages import KeptMessage
from sandbox.mail.smtp import smtp_controller
from sandbox.mail.state import MailState
from sandbox.server import ServerThread
from socialbridge.logs import get_logger

log = get_logger(__name__)


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server-side TLS context from a PEM certificate (chain) and its key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class MailSandbox:
    """The sandbox SMTP server on `host:smtp_port` and its HTTP pages on `host:http_port`
    (0: a free port, read back from `.smtp_port` and `.http_url` once started)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        http_port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        data_dir: Path | None = None,
        *,
        implicit_tls: bool = False,
        require_auth: bool = False,
        users: Mapping[str, str] | None = None,
    ) -> None:
        if tls_context is None and not is_loopback(host):
            raise ValueError(
                f"the mail sandbox takes AUTH in the clear without TLS: it listens on a "
                f"loopback address only, not {host!r} (or give it a TLS context)"
            )
        if implicit_tls and tls_context is None:
            raise ValueError("implicit_tls needs a tls_context")
        # One address for both servers: "localhost" could bind each of 127.0.0.1 and ::1,
        # on different free ports.
        self.host = "127.0.0.1" if host.lower() == "localhost" else host
        self._smtp_port = smtp_port
        self._http_port = http_port
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._require_auth = require_auth
        self.state = MailState(None if data_dir is None else Path(data_dir), users)
        self._smtp: Controller | None = None
        self._http: ServerThread | None = None

    @property
    def smtp_port(self) -> int:
        """The port the SMTP server listens on (known once started)."""
        if self._smtp is None:
            raise RuntimeError("MailSandbox is not running: call start() first")
        port: int = self._smtp.port
        return port

    @property
    def http_url(self) -> str:
        """`http://host:port` of the HTTP pages, without a trailing slash."""
        if self._http is None:
            raise RuntimeError("MailSandbox is not running: call start() first")
        return self._http.url

    def start(self) -> MailSandbox:
        """Bind both servers and start serving; return self. Raises OSError if either
        cannot bind (and then leaves neither running)."""
        if self._smtp is not None:
            raise RuntimeError("MailSandbox is already running")
        smtp = smtp_controller(
            self.state,
            host=self.host,
            port=self._smtp_port,
            tls_context=self._tls_context,
            implicit_tls=self._implicit_tls,
            require_auth=self._require_auth,
        )
        smtp.start()
        self._smtp = smtp
        try:
            app = create_sandbox_mail_app(self.state)
            self._http = ServerThread(app, host=self.host, port=self._http_port).start()
        except BaseException:
            self.stop()
            raise
        log.info("sandbox_mail.started", smtp_port=self.smtp_port, url=self.http_url)
        return self

    def stop(self) -> None:
        """Stop both servers; a session held by a no_answer fault is closed. Idempotent."""
        http, smtp = self._http, self._smtp
        self._http = self._smtp = None
        if http is not None:
            http.stop()
        if smtp is not None:
            smtp.stop()
        self.state.close()

    def messages(self, to: str | None = None) -> list[KeptMessage]:
        """The messages kept so far, oldest first (`sandbox.mail.messages` says the fields)."""
        return self.state.messages(to=to)

    def add_fault(self, **fault: Any) -> Fault:
        """Queue a fault as ``POST /_sandbox/faults`` would (`sandbox.mail.faults`); raise
        marshmallow's ValidationError for one it would refuse."""
        loaded = load_fault(fault)
        self.state.faults.add(loaded)
        return loaded

    def __enter__(self) -> MailSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._smtp is None or self._http is None:
            return "<MailSandbox stopped>"
        return f"<MailSandbox smtp {self.host}:{self.smtp_port} http {self.http_url}>"
