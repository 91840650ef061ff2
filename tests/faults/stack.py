"""`bench.stack.Stack` with what fault runs need: beat, a CRM that keeps its data, and kills.

    with FaultStack(workdir, settings_overrides={"retry_backoff_max": 30}) as stack:
        stack.start_worker(concurrency=2)
        stack.start_beat()
        stack.kill_redis(); stack.start_redis()      # same port, its AOF replayed
        stack.kill_crm(); child = stack.spawn_crm()  # ready once stack.crm_ready()

The sandbox CRM runs with a data folder in ``workdir`` so that, killed and started again on
the same port, it still knows which write-backs it stored. Every kill is a SIGKILL: what the
OOM killer, a lost machine or `kill -9` does, with no chance to clean up. The ``spawn_…``
methods start a process and return at once; ``…_ready`` says when it is ready, so a run can
start processes again without holding up its fault schedule (`tests.faults.keeper`).
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.stack import HOST, Child, Stack, http_ok, spawn, wait_until
from cli.dev.run import console_script, sandbox_command
from socialbridge.embedded_redis import free_port

KILL_WAIT_SECONDS = 10.0
BEAT_READY = "beat: Starting..."


@dataclass
class FaultStack(Stack):
    """Every process of `make run`, and the moves that break them."""

    beat: Child | None = field(init=False, default=None)
    beats_started: int = field(init=False, default=0)
    crm_port: int = field(init=False, default=0)

    def __enter__(self) -> FaultStack:
        super().__enter__()
        return self

    # -- the sandbox CRM, with its data on disk --------------------------------------------

    def _start_sandbox(self, which: str) -> tuple[Child, str]:
        if which != "crm":
            return super()._start_sandbox(which)
        self.crm_port = free_port()
        url = f"http://{HOST}:{self.crm_port}"
        return self._spawn_crm(url), url

    def _spawn_crm(self, url: str) -> Child:
        child = self.spawn_crm()
        wait_until(http_ok(url), child, what="up")
        return child

    def spawn_crm(self) -> Child:
        """The sandbox CRM on its port, with what it stored before; ready once `crm_ready`."""
        command = sandbox_command("crm", self.crm_port, self.crm_data_dir)
        child = spawn("sandbox-crm", command, self.environment(), self.workdir / "sandbox-crm.log")
        self.crm = child
        self._stack.callback(child.stop)
        return child

    def crm_ready(self) -> bool:
        """Whether the sandbox CRM answers."""
        try:
            return http_ok(self.crm_url)()
        except httpx.HTTPError:
            return False

    @property
    def crm_data_dir(self) -> Path:
        return self.workdir / "sandbox-crm"

    def kill_crm(self) -> None:
        """SIGKILL the sandbox CRM: write-backs meet a closed port until `spawn_crm`'s is up."""
        if self.crm is not None:
            kill(self.crm)

    # -- Redis ------------------------------------------------------------------------------

    def kill_redis(self) -> None:
        """SIGKILL redis-server: up to a second of writes not yet in the AOF is lost."""
        pid = self.redis.pid
        if pid is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while self.redis.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def start_redis(self) -> None:
        """redis-server again on the same port and folder: it replays its AOF."""
        self.redis.start()

    # -- Celery -----------------------------------------------------------------------------

    def start_beat(self) -> Child:
        """`celery -A workers beat`, as the Procfile runs it (each start logs to a new file)."""
        child = self.spawn_beat()
        wait_until(lambda: beat_ready(child), child, what=repr(BEAT_READY))
        return child

    def spawn_beat(self) -> Child:
        """The same beat, started without waiting for it to be ready (`beat_ready`)."""
        self.beats_started += 1
        child = spawn(
            f"beat{self.beats_started}",
            [console_script("celery"), "-A", "workers", "beat", "--loglevel", "INFO"],
            self.environment(),
            self.workdir / f"beat{self.beats_started}.log",
        )
        self.beat = child
        self._stack.callback(child.stop)
        return child

    @property
    def worker(self) -> Child | None:
        """The worker started last (earlier ones were killed)."""
        return self.workers[-1] if self.workers else None

    def kill_pool_process(self, rng: random.Random) -> int | None:
        """SIGKILL one prefork pool process of the worker; its pid, or None if it has none."""
        worker = self.worker
        if worker is None or worker.process.poll() is not None:
            return None
        try:
            children = psutil.Process(worker.pid).children()
        except psutil.NoSuchProcess:
            return None
        if not children:
            return None
        victim = rng.choice(sorted(children, key=lambda process: process.pid))
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.send_signal(signal.SIGKILL)
            return int(victim.pid)
        return None

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool processes at once, as when its machine is lost."""
        worker = self.worker
        if worker is not None:
            kill(worker)


def beat_ready(child: Child) -> bool:
    """Whether `celery beat` has started its loop."""
    return BEAT_READY in child.log_text()


def kill(child: Child) -> None:
    """SIGKILL ``child`` and every process under it, and wait until it has exited."""
    try:
        root = psutil.Process(child.pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        processes = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=KILL_WAIT_SECONDS)
