"""`make run`'s supervisor: child processes kept up, their output on one terminal.

    supervisor = Supervisor(echo, cwd=root)
    supervisor.start("worker", argv, env)
    with stop_on_signals(stop):
        supervise(supervisor, redis, stop, echo)   # until Ctrl-C/SIGTERM
    supervisor.stop_all()

Like honcho: each child's output prefixed with its name (`LockedEcho` keeps the lines whole),
and everything stopped together (`Supervisor.stop_all`). Unlike honcho, a process that exits
on its own (Redis included, by `supervise`) is started again, after a wait of 1 s doubling to
30 s (`Backoff`), and the output says which one, how it exited and when it comes back. What to
start, and in which order, is `cli.dev.run`'s business.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from socialbridge.embedded_redis import EmbeddedRedis, EmbeddedRedisError

Echo = Callable[[str], None]

STOP_TIMEOUT = 15.0


# --- restarts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """How long `make run` waits before starting a process again that exited on its own.

    ``first`` seconds after the first exit, doubling at each exit that follows up to
    ``maximum``; a process that had stayed up ``reset_after`` seconds starts from ``first``
    again. A process that dies at once is thus started at most once every ``maximum`` seconds
    in the long run: it never spins the CPU.
    """

    first: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0

    def next_delay(self, previous: float | None, uptime: float) -> float:
        """The wait after an exit: ``previous`` was the last wait (None: none yet)."""
        if previous is None or uptime >= self.reset_after:
            return self.first
        return min(previous * 2, self.maximum)


@dataclass
class Restarts:
    """The restart bookkeeping of one supervised process (times from `time.monotonic`)."""

    backoff: Backoff
    started_at: float
    delay: float | None = None
    due_at: float | None = None
    count: int = 0

    @property
    def pending(self) -> bool:
        """True between an exit and the restart it leads to."""
        return self.due_at is not None

    def exited(self, now: float) -> float:
        """Record an exit noticed at ``now``; return the wait before the restart."""
        self.delay = self.backoff.next_delay(self.delay, now - self.started_at)
        self.due_at = now + self.delay
        return self.delay

    def is_due(self, now: float) -> bool:
        return self.due_at is not None and now >= self.due_at

    def restarted(self, now: float) -> None:
        self.started_at = now
        self.due_at = None
        self.count += 1


def describe_exit(code: int) -> str:
    """``with code 1``, or ``on signal SIGKILL`` for Popen's negative return codes."""
    if code >= 0:
        return f"with code {code}"
    try:
        return f"on signal {signal.Signals(-code).name}"
    except ValueError:
        return f"on signal {-code}"


def _clock_time(in_seconds: float) -> str:
    """The local time ``in_seconds`` from now, as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(time.time() + in_seconds))


# --- supervised children -----------------------------------------------------------------


@dataclass
class Child:
    """One supervised process, the thread that copies its output, and how to start it again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    pump: threading.Thread
    restarts: Restarts


class Supervisor:
    """Starts children, prefixes their output with their names, restarts those that exit on
    their own (`keep_running`), and stops them together (`stop_all`)."""

    def __init__(
        self,
        echo: Echo,
        *,
        cwd: Path,
        name_width: int = 6,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._echo = echo
        self._cwd = cwd
        self._width = name_width
        self._backoff = backoff or Backoff()
        self._clock = clock
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        """Start ``argv`` as child ``name``; its stdout and stderr are echoed line by line."""
        process, pump = self._spawn(name, argv, env)
        child = Child(
            name, list(argv), dict(env), process, pump, Restarts(self._backoff, self._clock())
        )
        self.children.append(child)
        return child

    def _spawn(
        self, name: str, argv: list[str], env: Mapping[str, str]
    ) -> tuple[subprocess.Popen[bytes], threading.Thread]:
        process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            argv,
            cwd=self._cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches only us, and we stop the children in order.
            start_new_session=True,
        )
        assert process.stdout is not None  # stdout=PIPE
        pump = threading.Thread(
            target=self._copy_output,
            args=(name, process.stdout),
            name=f"output-{name}",
            daemon=True,
        )
        pump.start()
        return process, pump

    def _copy_output(self, name: str, stream: IO[bytes]) -> None:
        prefix = f"{name:<{self._width}} | "
        with stream:
            for raw in iter(stream.readline, b""):
                self._echo(prefix + raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def first_exited(self) -> Child | None:
        """The first child (in start order) that is no longer running, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def keep_running(self, now: float | None = None) -> None:
        """Notice the children that exited, and start each again once its wait is over.

        Called every fraction of a second by `make run`; says on the output which child
        exited, how, and when it starts again.
        """
        now = self._clock() if now is None else now
        for child in self.children:
            restarts = child.restarts
            if not restarts.pending:
                code = child.process.poll()
                if code is None:
                    continue
                uptime = now - restarts.started_at
                delay = restarts.exited(now)
                self._echo(
                    f"{child.name} exited {describe_exit(code)} after {uptime:.1f} s: "
                    f"restarting it in {delay:g} s (at {_clock_time(delay)})"
                )
            elif restarts.is_due(now):
                self._end_leftovers(child)
                child.process, child.pump = self._spawn(child.name, child.argv, child.env)
                restarts.restarted(now)
                self._echo(
                    f"{child.name} started again (pid {child.process.pid}, "
                    f"restart {restarts.count})"
                )

    def _end_leftovers(self, child: Child) -> None:
        # What the exited process left behind in its group (a pool process or gunicorn worker
        # whose parent died without stopping it) would hold its port, or run a second copy of
        # its tasks, next to the new one. The group id is the exited child's pid; while any
        # process of the group lives, the kernel does not hand that id out again.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.pump.join(timeout=1.0)

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every running child, wait up to ``timeout`` in all, then SIGKILL the rest."""
        running = [child for child in self.children if child.process.poll() is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
        deadline = time.monotonic() + timeout
        for child in running:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._echo(f"{child.name} did not stop within {timeout:g} s: killing it")
                # The whole group: a killed master cannot take its own workers down.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        for child in self.children:
            # A grandchild that outlived its parent may hold the pipe open: do not hang on it.
            child.pump.join(timeout=2.0)


# --- the loop of `make run` --------------------------------------------------------------


class LockedEcho:
    """One line at a time: the output threads of all children share the terminal."""

    def __init__(self, echo: Echo) -> None:
        self._echo = echo
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._echo(line)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``stop.set()`` while inside the block."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        # Signal handlers can only be set from the main thread (tests call run_dev elsewhere).
        yield
        return
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def supervise(
    supervisor: Supervisor,
    redis: EmbeddedRedis,
    stop: threading.Event,
    echo: Echo,
    *,
    backoff: Backoff | None = None,
) -> int:
    """Keep every process up until Ctrl-C/SIGTERM, then return 0.

    A child that exits is started again after its backoff (`Supervisor.keep_running`); so is
    Redis, on the same port and with its data, so the worker and beat find it where it was.
    """
    redis_restarts = Restarts(backoff or Backoff(), time.monotonic())
    while not stop.wait(0.25):
        now = time.monotonic()
        supervisor.keep_running(now)
        _keep_redis_running(redis, redis_restarts, now, echo)
    echo("stopping (up to 15 s) ...")
    return 0


def _keep_redis_running(redis: EmbeddedRedis, restarts: Restarts, now: float, echo: Echo) -> None:
    if not restarts.pending:
        code = redis.poll()
        if code is None:
            return
        uptime = now - restarts.started_at
        delay = restarts.exited(now)
        echo(
            f"redis exited {describe_exit(code)} after {uptime:.1f} s (see {redis.log_file}): "
            f"restarting it in {delay:g} s (at {_clock_time(delay)}), on port {redis.port} "
            f"with its data"
        )
    elif restarts.is_due(now):
        try:
            redis.start()
        except EmbeddedRedisError as error:
            # A failed start counts as a start that exited at once: the next wait is longer.
            restarts.restarted(now)
            delay = restarts.exited(now)
            echo(f"redis did not start again: {error}\ntrying again in {delay:g} s")
            return
        restarts.restarted(now)
        echo(
            f"redis started again on port {redis.port} (pid {redis.pid}, restart {restarts.count})"
        )
