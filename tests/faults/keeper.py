"""Keep the processes of a fault run up, as systemd or a Procfile manager would.

    keeper = Keeper()
    keeper.add("worker", spawn=lambda: stack.spawn_worker(2), ready=worker_ready, child=first)
    keeper.stop("worker")      # the plan kills it: not restarted until the plan says
    keeper.start("worker")     # the plan starts it again
    keeper.tick()              # often: notices exits, restarts, readiness

Nothing here waits. A process that exits when the plan did not kill it is started again after
1, 2, 4 … (at most ``BACKOFF_MAX``) seconds, like ``Restart=always`` with a growing
``RestartSec``; starting it only spawns it, and a later tick sees it ready (or exited again).
So the fault schedule goes on while a process comes back, and a process that cannot start
while Redis is down simply comes back once Redis does. A process is restarted at most
``MAX_RESTARTS`` times and then left down (systemd's start limit); the run reports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 10.0
MAX_RESTARTS = 5

UP = "up"
STARTING = "starting"
WAITING = "waiting to restart"
STOPPED = "stopped by the plan"
GAVE_UP = "given up"


class Process(Protocol):
    def poll(self) -> int | None: ...


class Child(Protocol):
    """What the keeper needs of a started process (`bench.stack.Child` is one)."""

    @property
    def process(self) -> Process: ...

    def log_text(self) -> str: ...


@dataclass
class Exit:
    """A process that exited without the plan killing it."""

    role: str
    code: int | None
    """None: it could not even be spawned."""
    at: float
    """Seconds after the keeper's clock started."""
    last_lines: str


@dataclass
class Role:
    """One kept process: how to start it, how to tell it is ready, and where it stands."""

    name: str
    spawn: Callable[[], Child]
    ready: Callable[[Child], bool]
    child: Child | None
    state: str
    exits: int = 0
    restart_at: float = 0.0
    down_since: float | None = None
    """When the plan stopped it: its downtime runs until it is ready again."""


@dataclass
class Keeper:
    """Restarts processes that exit on their own, without ever waiting (see the module)."""

    clock: Callable[[], float] = time.monotonic
    backoff_first: float = BACKOFF_FIRST
    backoff_max: float = BACKOFF_MAX
    max_restarts: int = MAX_RESTARTS
    exits: list[Exit] = field(default_factory=list)
    downtime: dict[str, float] = field(default_factory=dict)
    """Seconds each role was down, from the plan's kill to being ready again (the last time)."""
    problems: list[str] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    began: float = field(init=False)

    def __post_init__(self) -> None:
        self.began = self.clock()

    def add(
        self,
        name: str,
        *,
        spawn: Callable[[], Child],
        ready: Callable[[Child], bool],
        child: Child,
    ) -> None:
        """Keep ``child``, already started and ready, up from now on. ``ready`` answers
        whether a spawned process is ready yet, and never raises."""
        self.roles[name] = Role(name, spawn, ready, child, UP)

    def stop(self, name: str) -> None:
        """The plan is about to kill ``name``: not an exit to restart."""
        role = self.roles[name]
        role.state, role.down_since = STOPPED, self.clock()

    def start(self, name: str) -> None:
        """The plan starts ``name`` again: spawned now, ready at a later tick."""
        self._spawn(self.roles[name])

    def running(self, name: str) -> bool:
        """Started and ready, as far as the last tick saw."""
        return self.roles[name].state == UP

    def not_running(self) -> list[str]:
        """The roles that are not up, each with where it stands."""
        return [f"{r.name} ({r.state})" for r in self.roles.values() if r.state != UP]

    def tick(self) -> None:
        """Look at every process once: exits, due restarts, readiness. Never waits."""
        for role in self.roles.values():
            self._tick(role)

    def _tick(self, role: Role) -> None:
        now = self.clock()
        if role.state in (STOPPED, GAVE_UP):
            return
        if role.state == WAITING:
            if now >= role.restart_at:
                self._spawn(role)
            return
        assert role.child is not None
        code = role.child.process.poll()
        if code is not None:
            self._failed(role, code, last_error_lines(role.child), now)
        elif role.state == STARTING and role.ready(role.child):
            role.state = UP
            if role.down_since is not None:
                self.downtime[role.name] = round(now - role.down_since, 1)
                role.down_since = None

    def _failed(self, role: Role, code: int | None, last_lines: str, now: float) -> None:
        """``role`` exited, or could not even be spawned (code None): restart it later."""
        role.exits += 1
        self.exits.append(Exit(role.name, code, round(now - self.began, 1), last_lines))
        if role.exits > self.max_restarts:
            role.state = GAVE_UP
            self.problems.append(f"{role.name} exited {role.exits} times; left down")
            return
        role.state = WAITING
        role.restart_at = now + min(self.backoff_max, self.backoff_first * 2 ** (role.exits - 1))

    def _spawn(self, role: Role) -> None:
        try:
            role.child = role.spawn()
        except OSError as exc:  # a start that fails counts as an exit, as for systemd
            self._failed(role, None, f"could not be started: {exc}", self.clock())
            return
        role.state = STARTING


def last_error_lines(child: Child, lines: int = 6) -> str:
    """The last error lines of a process's log, or its last lines if none says error."""
    tail = child.log_text().splitlines()
    wanted = [line for line in tail if "ERROR" in line or "CRITICAL" in line or "Error" in line]
    return "\n".join((wanted or tail)[-lines:])
