"""A Redis restart under a running worker and beat: both stay up and the bridge keeps working.

The stack of this module is its own, not the session's: a redis-server with its append-only
file under a temporary folder (killed with SIGKILL and started again on the same port), a
SQLite store, the web app and the sandboxes in this process, and `celery -A workers worker` and
`celery -A workers beat` as real subprocesses, as the Procfile runs them; the worker once with
each pool.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psutil
import pytest

from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import Store, migrate
from tests.functional.harness import ROOT, System, Worker, worker_environment
from webapp import create_app

pytestmark = pytest.mark.slow

# Longer than beat's loop interval (5 s), so a tick of beat meets Redis away for certain.
REDIS_DOWN_SECONDS = 6.0
# Redis restarts in a row with tasks finishing and a pool process just dead, the moments that
# used to end the worker (workers/redis_transport.py, workers/prefork_pool.py): each did in
# about one restart in ten under load.
RESTARTS = 5
EVENTS_PER_RESTART = 8


class Beat:
    """`celery -A workers beat` as a subprocess, its log kept for the failure report."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.log_path = workdir / "beat.log"
        self.schedule_path = workdir / "beat-schedule"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "INFO",
                 "--schedule", str(self.schedule_path)],
                cwd=ROOT,
                env=worker_environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(lambda: "beat.lock_acquired" in self.log_text(), self, timeout=timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def wait_until(
    condition: Callable[[], bool], process: Beat | Worker, *, timeout: float = 60.0
) -> None:
    """Wait for ``condition``; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.process is not None
        if process.process.poll() is not None:
            raise AssertionError(
                f"{type(process).__name__.lower()} exited with {process.process.returncode}:\n"
                f"{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s:\n{process.log_tail()}")
        time.sleep(0.2)


@dataclass
class Restartable:
    """The system of this module, with its own Redis and its beat."""

    system: System
    redis: EmbeddedRedis
    beat: Beat

    def kill_redis_and_start_it_again(self, down: float = REDIS_DOWN_SECONDS) -> None:
        """SIGKILL Redis (no shutdown, no last fsync), wait ``down`` s, start it on its AOF."""
        pid = self.redis.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        while self.redis.poll() is None:
            time.sleep(0.02)
        time.sleep(down)
        self.redis.start()  # the same port and data folder


@pytest.fixture(scope="module", params=["prefork", "threads"])
def restartable(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sandboxes: tuple[str, str],
) -> Iterator[Restartable]:
    # Both pools: prefork (one child, which the last test kills) and the Procfile's threads.
    pool: str = request.param
    tmp = tmp_path_factory.mktemp(f"processes-{pool}")
    ghl_url, crm_url = sandboxes
    redis = EmbeddedRedis(tmp / "redis")
    redis.start()
    database_url = f"sqlite:///{tmp / 'socialbridge.db'}"
    migrate.upgrade(database_url)
    settings = Settings.from_mapping(
        {
            "database_url": database_url,
            "redis_url": redis.url,
            "secret_key": "functional-tests-secret-key",
            "ghl_base_url": ghl_url,
            "retry_backoff_base": 0.2,
            "retry_backoff_max": 2.0,
            "sweep_interval": 1.0,
            "lease_seconds": 3,
            # The tests slow GHL's tag listing to catch attempts mid-call: a list cached by
            # an earlier test of the module would skip that call and finish at once.
            "tag_cache_ttl": 0,
        }
    )
    store = Store(database_url, settings.secret_key)
    app = create_app(settings)
    worker = Worker(
        settings, tmp / "worker.log", pool=pool, concurrency=1 if pool == "prefork" else 4
    )
    beat = Beat(settings, tmp)
    try:
        worker.start()
        beat.start()
        with ServerThread(app) as web:
            system = System(
                settings=settings.replace(public_url=web.url),
                store=store,
                web_url=web.url,
                ghl_url=ghl_url,
                crm_url=crm_url,
                worker=worker,
            )
            yield Restartable(system, redis, beat)
    finally:
        beat.stop()
        worker.stop()
        app.extensions["socialbridge"].dispose()
        store.dispose()
        redis.stop()


def test_a_redis_restart_leaves_worker_and_beat_running_and_the_next_event_is_processed(
    restartable: Restartable,
) -> None:
    bridge, beat = restartable.system, restartable.beat
    bridge.reset_sandboxes()
    connection = bridge.new_connection()
    before = bridge.send(connection, "post.published", {"post_id": "p-before"})
    assert bridge.wait_for(before.json()["event_id"]).status == "done"
    worker_log = bridge.worker.log_path.read_text(errors="replace")
    connects_before = worker_log.count("Connected to redis://")

    restartable.kill_redis_and_start_it_again()

    # Beat met Redis away, paused, and ticks again; the worker reconnected.
    wait_until(lambda: "beat.redis_back" in beat.log_text(), beat)
    wait_until(
        lambda: (
            bridge.worker.log_path.read_text(errors="replace").count("Connected to redis://")
            > connects_before
        ),
        bridge.worker,
    )
    after = bridge.send(connection, "post.published", {"post_id": "p-after"})
    assert after.status_code == 202, after.text
    event = bridge.wait_for(after.json()["event_id"], timeout=60)

    assert event.status == "done", event.last_error
    assert beat.running(), beat.log_tail()
    assert bridge.worker.process is not None
    assert bridge.worker.process.poll() is None, bridge.worker.log_tail()
    assert "beat.redis_unavailable" in beat.log_text()
    assert "Unrecoverable error" not in bridge.worker.log_path.read_text(errors="replace")
    assert [d["outcome"] for d in bridge.crm_deliveries(connection)] == ["stored", "stored"]


def test_attempts_cut_off_by_a_redis_restart_finish_once_each(restartable: Restartable) -> None:
    bridge = restartable.system
    bridge.reset_sandboxes()
    connection = bridge.new_connection()
    # Slow GHL answers: attempts are running when Redis goes away. Prefork cancels them
    # (worker_cancel_long_running_tasks_on_connection_loss) and the sweep runs them again;
    # the threads pool cannot, and they finish while their messages come back later.
    bridge.ghl_fault(path_contains="/tags", delay_ms=1500, times=6)
    ids = [
        bridge.send(connection, "post.published", {"post_id": f"p-cut-{n}"}).json()["event_id"]
        for n in range(3)
    ]
    bridge.wait_for(ids[0], lambda e: e.status == "processing", timeout=30)

    restartable.kill_redis_and_start_it_again()
    events = [bridge.wait_for(event_id, timeout=90) for event_id in ids]

    assert [e.status for e in events] == ["done"] * 3, [e.last_error for e in events]
    assert restartable.beat.running(), restartable.beat.log_tail()
    assert bridge.worker.process is not None
    assert bridge.worker.process.poll() is None, bridge.worker.log_tail()
    for n in range(3):
        record = bridge.crm_get(connection, f"posts/p-cut-{n}")
        assert len(record["webhook_ids"]) == 1  # written once, under one id


def test_the_worker_stays_up_through_redis_restarts_as_tasks_finish_and_pool_processes_die(
    restartable: Restartable,
) -> None:
    bridge = restartable.system
    bridge.reset_sandboxes()
    connection = bridge.new_connection()
    accepted = []
    for restart in range(RESTARTS):
        for n in range(EVENTS_PER_RESTART):
            answer = bridge.send(connection, "post.published", {"post_id": f"p-{restart}-{n}"})
            assert answer.status_code == 202, answer.text
            accepted.append(answer.json()["event_id"])
        connects = worker_log(bridge).count("Connected to redis://")
        kill_a_pool_process(bridge.worker)
        restartable.kill_redis_and_start_it_again(down=1.0)
        since = len(worker_log(bridge))
        # Back on the new Redis: the consumer says "Connected to", or it takes a message. Once
        # Redis went away again while the consumer was starting, and its retry connected
        # without printing the line: the messages it took showed it.
        wait_until(partial(back_on_redis, bridge, connects, since), bridge.worker)

    events = [bridge.wait_for(event_id, timeout=90) for event_id in accepted]

    assert [e.status for e in events] == ["done"] * len(accepted), [e.last_error for e in events]
    assert bridge.worker.process is not None
    assert bridge.worker.process.poll() is None, bridge.worker.log_tail()
    assert "Unrecoverable error" not in bridge.worker.log_path.read_text(errors="replace")


def back_on_redis(bridge: System, connects: int, since: int) -> bool:
    log = worker_log(bridge)
    return log.count("Connected to redis://") > connects or "] received" in log[since:]


def worker_log(bridge: System) -> str:
    assert bridge.worker is not None
    return bridge.worker.log_path.read_text(errors="replace")


def kill_a_pool_process(worker: Worker) -> None:
    """SIGKILL a pool process of the worker, if it has one right now (one may be starting;
    a threads worker has none)."""
    assert worker.process is not None
    for child in psutil.Process(worker.process.pid).children()[:1]:
        child.send_signal(signal.SIGKILL)
