"""The keeper of a fault run's processes: restarts in the background, with backoff.

A clock the test moves and processes that exit when the test says stand for the real ones:
what is tested is the keeper's bookkeeping, never waiting included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.faults.keeper import GAVE_UP, STARTING, STOPPED, WAITING, Keeper


@dataclass
class FakeProcess:
    code: int | None = None

    def poll(self) -> int | None:
        return self.code


@dataclass
class FakeChild:
    process: FakeProcess = field(default_factory=FakeProcess)
    log: str = "INFO starting\nCRITICAL Unrecoverable error: boom\n"
    is_ready: bool = False

    def log_text(self) -> str:
        return self.log


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    clock: Clock
    keeper: Keeper
    spawned: list[FakeChild]

    def spawn(self) -> FakeChild:
        child = FakeChild()
        self.spawned.append(child)
        return child

    @property
    def current(self) -> FakeChild:
        return self.spawned[-1]

    def later(self, seconds: float) -> None:
        self.clock.now += seconds
        self.keeper.tick()


@pytest.fixture
def world() -> World:
    clock = Clock()
    keeper = Keeper(clock=clock)
    world = World(clock, keeper, [])
    first = world.spawn()
    first.is_ready = True
    keeper.add("worker", spawn=world.spawn, ready=lambda c: c.is_ready, child=first)
    return world


def test_an_exit_is_restarted_after_a_growing_wait_and_counted(world: World) -> None:
    keeper = world.keeper
    world.current.process.code = 1
    world.later(0.1)

    assert keeper.roles["worker"].state == WAITING
    assert [(e.role, e.code) for e in keeper.exits] == [("worker", 1)]
    assert "Unrecoverable error" in keeper.exits[0].last_lines
    world.later(0.5)
    assert len(world.spawned) == 1  # 1 s has not passed yet
    world.later(0.6)
    assert len(world.spawned) == 2
    assert keeper.roles["worker"].state == STARTING
    assert not keeper.running("worker")

    world.current.process.code = 1  # it exits again while starting: waits 2 s this time
    world.later(0.1)
    world.later(1.5)
    assert len(world.spawned) == 2
    world.later(0.6)
    assert len(world.spawned) == 3
    world.current.is_ready = True
    world.later(0.1)
    assert keeper.running("worker")
    assert keeper.not_running() == []


def test_a_process_that_cannot_start_does_not_hold_up_the_caller(world: World) -> None:
    # What the chaos run hit: a worker started again while Redis was down is not ready for
    # as long as Redis is away. Each tick returns at once; the worker is simply not up yet.
    world.current.process.code = 1
    world.later(0.1)
    world.later(1.0)
    for _ in range(300):
        world.later(0.2)
        assert world.keeper.roles["worker"].state == STARTING
    world.current.is_ready = True
    world.later(0.2)
    assert world.keeper.running("worker")


def test_a_planned_kill_is_not_restarted_and_its_downtime_runs_until_ready(world: World) -> None:
    keeper = world.keeper
    keeper.stop("worker")
    world.current.process.code = -9
    world.later(2.0)
    assert keeper.roles["worker"].state == STOPPED
    assert keeper.exits == []
    assert len(world.spawned) == 1

    keeper.start("worker")
    world.later(3.0)
    assert keeper.roles["worker"].state == STARTING
    world.current.is_ready = True
    world.later(0.5)

    assert keeper.running("worker")
    assert keeper.downtime == {"worker": 5.5}


def test_after_five_restarts_it_is_left_down_and_said_so(world: World) -> None:
    keeper = world.keeper
    for _ in range(6):
        world.current.process.code = 1
        world.later(0.1)
        world.later(keeper.backoff_max)

    assert keeper.roles["worker"].state == GAVE_UP
    assert len(world.spawned) == 6
    assert keeper.problems == ["worker exited 6 times; left down"]
    assert keeper.not_running() == [f"worker ({GAVE_UP})"]


def test_the_wait_grows_to_at_most_ten_seconds() -> None:
    clock = Clock()
    keeper = Keeper(clock=clock, max_restarts=100)
    spawned: list[FakeChild] = [FakeChild(is_ready=True)]

    def spawn() -> FakeChild:
        spawned.append(FakeChild())
        return spawned[-1]

    keeper.add("beat", spawn=spawn, ready=lambda c: c.is_ready, child=spawned[0])
    waits = []
    for _ in range(6):
        spawned[-1].process.code = 1
        keeper.tick()
        waits.append(keeper.roles["beat"].restart_at - clock.now)
        clock.now = keeper.roles["beat"].restart_at
        keeper.tick()

    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert keeper.roles["beat"].state == STARTING


def test_a_start_that_fails_counts_as_an_exit(world: World) -> None:
    keeper = world.keeper

    def cannot_spawn() -> FakeChild:
        raise OSError("no such file: celery")

    keeper.roles["worker"].spawn = cannot_spawn
    keeper.stop("worker")
    keeper.start("worker")

    assert keeper.roles["worker"].state == WAITING
    assert [(e.code, e.last_lines) for e in keeper.exits] == [
        (None, "could not be started: no such file: celery")
    ]
    keeper.roles["worker"].spawn = world.spawn
    world.later(1.0)
    assert keeper.roles["worker"].state == STARTING
