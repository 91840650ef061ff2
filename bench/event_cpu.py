"""Worker CPU per cached `post.published` event, measured in this process.

    .venv/bin/python -m bench.event_cpu [--events 200] [--json FILE|-] [--profile]

The worker's real task (`flows.sync_post_tags`, through `Task.apply`: Celery's own tracing and
the task body, without a broker) runs here over ``--events`` recorded `post.published` events
of ONE location, one after the other, with the location's tag list already in the tag cache:
each event reads the cached list (no GHL call), saves the post record and writes back to the
CRM. The outside parts are real and run as processes of their own, so that their CPU is not
counted: the embedded Redis, the sandbox GHL (250 tags for the location) and the sandbox CRM.
The store is a SQLite file in a temporary folder; logs are JSON lines at INFO into a file
there, as a worker writes them (``LOG_FORMAT=json``).

Each event's CPU is ``time.process_time()`` around the task (all threads of this process:
the lease keeper's too), its wall time ``time.perf_counter()``. Every event must end `done`,
the GHL journal must show no call during the measured events, and the CRM must have received
one write-back per event; the run fails otherwise. ``--profile`` then runs as many events
again under cProfile and prints the 20 functions with the most time of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import logging
import os
import pstats
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.stack import (
    HOST,
    dump_json,
    format_table,
    http_ok,
    machine,
    percentile,
    print_machine,
    spawn,
    wait_until,
)
from cli.dev.run import sandbox_command
from schemas.events import dump_event, load_event
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from socialbridge.logs import JsonFormatter
from store import ConnectionRecord, Store, migrate
from workers.celery_app import make_celery

EVENT = "post.published"
TASK = "flows.sync_post_tags"
LOCATION = "loc_cpu"
GHL_TOKEN = "pit-bench-cpu"  # noqa: S105 (the sandbox GHL's token for LOCATION)
ACCOUNT = "cpu"
WARMUP = 5


@dataclass
class Parts:
    """The running outside parts, the settings and the store of one run."""

    workdir: Path
    settings: Settings
    store: Store
    ghl_url: str
    crm_url: str
    http: httpx.Client


@contextlib.contextmanager
def running_parts(workdir: Path) -> Iterator[Parts]:
    """Redis, the sandbox GHL and CRM (processes), a migrated SQLite store, in ``workdir``."""
    with contextlib.ExitStack() as stack:
        redis_server = EmbeddedRedis(workdir / "redis")
        redis_server.start()
        stack.callback(redis_server.stop)
        urls = {}
        for which in ("ghl", "crm"):
            port = free_port()
            child = spawn(
                f"sandbox-{which}",
                sandbox_command(which, port),
                {**os.environ, "PYTHONUNBUFFERED": "1"},
                workdir / f"sandbox-{which}.log",
            )
            stack.callback(child.stop)
            url = f"http://{HOST}:{port}"
            health = f"{url}/_sandbox/health" if which == "ghl" else url
            wait_until(http_ok(health), child, what="up")
            urls[which] = url
        database_url = f"sqlite:///{workdir / 'socialbridge.db'}"
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_server.url,
                "secret_key": secrets.token_urlsafe(32),
                "ghl_base_url": urls["ghl"],
                "log_format": "json",
                "log_level": "INFO",
            }
        )
        migrate.upgrade(database_url)
        store = Store(database_url, settings.secret_key)
        stack.callback(store.dispose)
        http = stack.enter_context(httpx.Client(timeout=30))
        yield Parts(workdir, settings, store, urls["ghl"], urls["crm"], http)


def new_connection(parts: Parts) -> ConnectionRecord:
    """ONE location (seeded: 250 tags) and its connection, writing back to the sandbox CRM."""
    parts.http.post(
        f"{parts.ghl_url}/_sandbox/locations", json={"location_id": LOCATION, "token": GHL_TOKEN}
    ).raise_for_status()
    connection = parts.store.create_connection(
        name=ACCOUNT,
        location_id=LOCATION,
        ghl_token=GHL_TOKEN,
        crm_url=f"{parts.crm_url}/hooks/{ACCOUNT}",
    )
    parts.http.post(
        f"{parts.crm_url}/_sandbox/accounts",
        json={"account": ACCOUNT, "secret": connection.crm_secret},
    ).raise_for_status()
    return connection


def record_events(
    store: Store, connection: ConnectionRecord, count: int, first: int
) -> list[tuple[str, dict[str, Any]]]:
    """``count`` recorded post.published events (no ``ghl_post_id``) with the payload their
    message carries, as the receiver records and enqueues them."""
    events = []
    for serial in range(first, first + count):
        body = {
            "type": EVENT,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "data": {"post_id": f"crm-post-{serial}", "title": f"Benchmark post {serial}"},
        }
        payload = dump_event(load_event(body))
        record, _ = store.record_event(
            connection_id=connection.id,
            type=EVENT,
            payload=payload,
            webhook_id=f"msg_{secrets.token_hex(8)}",
        )
        events.append((record.id, payload))
    return events


def run_events(
    task: Any, events: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[float], list[float], Counter[str]]:
    """Each event through the task, one after the other: CPU and wall seconds of each."""
    cpu, wall = [], []
    outcomes: Counter[str] = Counter()
    for event_id, payload in events:
        task_id = f"{event_id}-{secrets.token_hex(4)}"
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        result = task.apply(args=[event_id, payload], task_id=task_id)
        cpu.append(time.process_time() - began_cpu)
        wall.append(time.perf_counter() - began_wall)
        outcomes[str(result.result)] += 1
    return cpu, wall, outcomes


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean_ms": sum(values) / len(values) * 1000,
        "p50_ms": percentile(values, 50) * 1000,
        "p95_ms": percentile(values, 95) * 1000,
        "max_ms": max(values) * 1000,
    }


def profile_top(
    task: Any,
    events: Sequence[tuple[str, dict[str, Any]]],
    top: int,
    sort: str,
    out_file: str | None = None,
) -> str:
    """The events under cProfile: the ``top`` functions by ``sort`` (pstats' key); the raw
    profile also into ``out_file`` (for `python -m pstats`)."""
    profiler = cProfile.Profile()
    profiler.enable()
    _, _, outcomes = run_events(task, events)
    profiler.disable()
    if set(outcomes) != {"done"}:
        raise SystemExit(f"profiled events did not all end done: {dict(outcomes)}")
    if out_file:
        profiler.dump_stats(out_file)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(sort).print_stats(top)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.event_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=200, help="events measured (default 200)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")
    parser.add_argument(
        "--profile", action="store_true", help="also run as many events under cProfile: top 20"
    )
    parser.add_argument(
        "--profile-sort",
        choices=("tottime", "cumulative"),
        default="tottime",
        help="order of the profile: own time (default) or time including callees",
    )
    parser.add_argument("--profile-out", metavar="FILE", help="the raw profile (pstats) to FILE")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print_machine(info)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        running_parts(Path(tmp)) as parts,
    ):
        # As the worker logs (socialbridge.logs.configure with LOG_FORMAT=json), into a file.
        handler = logging.FileHandler(parts.workdir / "worker.log")
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        app = make_celery(parts.settings)
        try:
            task = app.tasks[TASK]
            connection = new_connection(parts)
            # Warm: imports, pools, the engine, and the location's tags listed into the cache.
            _, _, warm = run_events(task, record_events(parts.store, connection, WARMUP, 0))
            if set(warm) != {"done"}:
                raise SystemExit(f"warm-up events did not all end done: {dict(warm)}")
            events = record_events(parts.store, connection, args.events, WARMUP)
            parts.http.delete(f"{parts.ghl_url}/_sandbox/journal").raise_for_status()
            parts.http.delete(f"{parts.crm_url}/_sandbox/deliveries").raise_for_status()
            cpu, wall, outcomes = run_events(task, events)
            ghl_calls = len(parts.http.get(f"{parts.ghl_url}/_sandbox/journal").json())
            deliveries = len(parts.http.get(f"{parts.crm_url}/_sandbox/deliveries").json())
            profile = None
            if args.profile:
                more = record_events(parts.store, connection, args.events, WARMUP + args.events)
                profile = profile_top(task, more, 20, args.profile_sort, args.profile_out)
        finally:
            app.services.dispose()
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            handler.close()

    result: dict[str, Any] = {
        "benchmark": "event_cpu",
        "machine": info,
        "event": EVENT,
        "events": args.events,
        "outcomes": dict(outcomes),
        "ghl_calls": ghl_calls,
        "crm_writebacks": deliveries,
        "cpu": _ms(cpu),
        "wall": _ms(wall),
    }
    print(
        f"\n{args.events} cached {EVENT} events, one location, task {TASK} in process: "
        f"{ghl_calls} GHL calls, {deliveries} CRM write-backs, outcomes {dict(outcomes)}"
    )
    print(
        format_table(
            ["ms per event", "mean", "p50", "p95", "max"],
            [
                ["worker CPU (process_time)", *result["cpu"].values()],
                ["wall", *result["wall"].values()],
            ],
        )
    )
    if profile is not None:
        order = "own time" if args.profile_sort == "tottime" else "time with callees"
        print(f"\ncProfile, {args.events} more events, top 20 by {order}:\n{profile}")
    if args.json:
        dump_json(args.json, result)
    failed = outcomes != Counter({"done": args.events}) or ghl_calls or deliveries != args.events
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
