"""Run any WSGI app on a real local HTTP server, in a background thread.

    with ServerThread(create_sandbox_ghl_app()) as server:
        httpx.get(f"{server.url}/_sandbox/health")

Port 0 (the default) lets the operating system pick a free port; `.url` tells which. The
server is werkzeug's threaded development server: one thread per connection, which is what
the sandboxes need to answer concurrent workers, and nothing more.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from socialbridge.logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = get_logger(__name__)

_STOP_TIMEOUT_SECONDS = 5.0


class _QuietRequestHandler(WSGIRequestHandler):
    """Logs each request as a debug event instead of werkzeug's coloured access line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("sandbox.http", request=getattr(self, "requestline", ""), status=str(code))


class ServerThread:
    """A WSGI app served over HTTP on `host:port` by a daemon thread until `stop()`."""

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._server is None:
            raise RuntimeError("ServerThread is not running: call start() first")
        return self._server.port

    @property
    def url(self) -> str:
        """`http://host:port` of the running server, without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ServerThread:
        """Bind the socket and start serving; return self. Raises OSError if it cannot bind."""
        if self._server is not None:
            raise RuntimeError("ServerThread is already running")
        try:
            server = make_server(
                self.host,
                self._requested_port,
                self.app,
                threaded=True,
                request_handler=_QuietRequestHandler,
            )
        except SystemExit:
            # werkzeug prints the reason and calls sys.exit() when it cannot bind; a helper
            # thread must not end the calling program, so report it as the OSError it is.
            raise OSError(f"cannot listen on {self.host}:{self._requested_port}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"ServerThread-{server.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("sandbox.server_started", url=self.url)
        return self

    def stop(self) -> None:
        """Stop accepting requests, close the socket and wait for the thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(_STOP_TIMEOUT_SECONDS)
        self._server = None
        self._thread = None
        log.info("sandbox.server_stopped", port=server.port)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"<ServerThread {state}>"
