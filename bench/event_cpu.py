"""Worker CPU per event of each flow, measured in this process.

    .venv/bin/python -m bench.event_cpu [--flow FLOW|all] [--events 200] [--json FILE|-]
                                        [--profile]

The worker's real task (through `Task.apply`: Celery's own tracing and the task body, without
a broker) runs here over ``--events`` recorded events of one flow, one after the other. The
flows are those of `bench.mixed_locations` (``--flow``, default ``post.published``; ``all``:
each in turn):

    post.published              the cached tag list (no GHL call), the post record, write-back
    post.published+ghl_post_id  GET .../posts/{id} (one GHL call), then as above
    tag.details_requested       POST .../tags/details for three tag ids (one GHL call)
    statistics.requested        GET .../accounts and POST /statistics (two GHL calls)

Each location's tag list is in the tag cache before the measured events start, so no event
lists tags. The outside parts are real and run as processes of their own, so that their CPU is
not counted in the worker's: the embedded Redis, the sandbox GHL (seeded locations of 250 tags)
and the sandbox CRM. The cached `post.published` runs on ONE location; the events of a flow that
calls GHL are spread over locations of at most ``EVENTS_PER_LOCATION`` events each, so that no
location comes near GHL's limit of 100 requests per 10 s (a deferred event would not be
measured). The store is a SQLite file in a temporary
folder; logs are JSON lines at INFO into a file there, as a worker writes them
(``LOG_FORMAT=json``).

Each event's CPU is ``time.process_time()`` around the task (all threads of this process:
the lease keeper's too), its wall time ``time.perf_counter()``. Every event must end `done`,
the GHL sandbox must count exactly the calls the flow needs (none for the cached
`post.published`), and the CRM must have received one write-back per event; the run fails
otherwise. The sandboxes' own CPU over the measured events (user + system of their processes)
is shown too, per write-back for the CRM and per call for GHL: the CRM checks each write-back's
signature and schema. ``--profile`` then runs as many events again under cProfile and prints
the 20 functions with the most time of their own.
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
import math
import os
import pstats
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.stack import (
    HOST,
    Child,
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
from sandbox.ghl.seed import seed_location, short_name
from schemas.events import (
    POST_PUBLISHED,
    STATISTICS_REQUESTED,
    TAG_DETAILS_REQUESTED,
    dump_event,
    load_event,
)
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from socialbridge.logs import JsonFormatter
from store import ConnectionRecord, Store, migrate
from workers.celery_app import make_celery
from workers.dispatch import TASK_FOR_EVENT

WARMUP = 5
# At most this many events per location (measured and profiled): with the warm-up (one tag
# listing of three pages, WARMUP events) a location makes at most 3 + 2 * (WARMUP + 30) = 73 GHL
# calls in the whole run, below the limiter's 95 per 10 s whatever the pace.
EVENTS_PER_LOCATION = 30


@dataclass(frozen=True)
class Flow:
    """One flow as `bench.mixed_locations` sends it: its event and the GHL calls it needs."""

    name: str
    event: str
    ghl_calls: int  # per event, with the location's tags cached
    data: Callable[[str, int, int], dict[str, Any]]  # (location, serial, post number) -> data

    @property
    def task(self) -> str:
        return TASK_FOR_EVENT[self.event]


def _post(location: str, serial: int, _: int) -> dict[str, Any]:
    return {"post_id": f"crm-post-{serial}", "title": f"Benchmark post {serial}"}


def _post_by_id(location: str, serial: int, post: int) -> dict[str, Any]:
    # The location's `post`-th seeded post: its tags are the location's, so the cache serves.
    return {**_post(location, serial, post), "ghl_post_id": f"post_{short_name(location)}_{post}"}


def _tag_details(location: str, serial: int, _: int) -> dict[str, Any]:
    tags = seed_location(location, seed=0).tags[:3]
    return {"post_id": f"crm-post-{serial}", "tag_ids": [tag.id for tag in tags]}


def _statistics(location: str, serial: int, _: int) -> dict[str, Any]:
    return {}


FLOWS: dict[str, Flow] = {
    flow.name: flow
    for flow in (
        Flow("post.published", POST_PUBLISHED, 0, _post),
        Flow("post.published+ghl_post_id", POST_PUBLISHED, 1, _post_by_id),
        Flow("tag.details_requested", TAG_DETAILS_REQUESTED, 1, _tag_details),
        Flow("statistics.requested", STATISTICS_REQUESTED, 2, _statistics),
    )
}
ALL = "all"


@dataclass
class Parts:
    """The running outside parts, the settings and the store of one run."""

    workdir: Path
    settings: Settings
    store: Store
    ghl_url: str
    crm_url: str
    http: httpx.Client
    sandboxes: dict[str, Child]


@contextlib.contextmanager
def running_parts(workdir: Path) -> Iterator[Parts]:
    """Redis, the sandbox GHL and CRM (processes), a migrated SQLite store, in ``workdir``."""
    with contextlib.ExitStack() as stack:
        redis_server = EmbeddedRedis(workdir / "redis")
        redis_server.start()
        stack.callback(redis_server.stop)
        urls, children = {}, {}
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
            urls[which], children[which] = url, child
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
        yield Parts(workdir, settings, store, urls["ghl"], urls["crm"], http, children)


def new_connection(parts: Parts, name: str, *, posts: int | None = None) -> ConnectionRecord:
    """A seeded location ``loc_{name}`` (250 tags, ``posts`` posts) and its connection, writing
    back to the sandbox CRM's account ``name``."""
    location, token = f"loc_{name}", f"pit-bench-{name}"
    body: dict[str, Any] = {"location_id": location, "token": token}
    if posts is not None:
        body["posts"] = posts
    parts.http.post(f"{parts.ghl_url}/_sandbox/locations", json=body).raise_for_status()
    connection = parts.store.create_connection(
        name=name,
        location_id=location,
        ghl_token=token,
        crm_url=f"{parts.crm_url}/hooks/{name}",
    )
    parts.http.post(
        f"{parts.crm_url}/_sandbox/accounts",
        json={"account": name, "secret": connection.crm_secret},
    ).raise_for_status()
    return connection


Event = tuple[str, str, dict[str, Any]]  # (task name, event id, the message's payload)


def record_event(
    store: Store, connection: ConnectionRecord, *, flow: Flow, serial: int, post: int
) -> Event:
    """One recorded event of ``flow`` with the payload its message carries, as the receiver
    records and enqueues it."""
    body = {
        "type": flow.event,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "data": flow.data(connection.location_id, serial, post),
    }
    payload = dump_event(load_event(body))
    record, _ = store.record_event(
        connection_id=connection.id,
        type=flow.event,
        payload=payload,
        webhook_id=f"msg_{secrets.token_hex(8)}",
    )
    return flow.task, record.id, payload


def record_events(
    store: Store,
    connections: Sequence[ConnectionRecord],
    flow: Flow,
    count: int,
    first: int,
) -> list[Event]:
    """``count`` recorded events of ``flow``, the ``connections`` in turn; serial numbers from
    ``first`` (a ``+ghl_post_id`` event names its location's post of the same number)."""
    events = []
    for serial in range(first, first + count):
        connection = connections[serial % len(connections)]
        post = serial // len(connections) + 1
        events.append(record_event(store, connection, flow=flow, serial=serial, post=post))
    return events


def run_events(app: Any, events: Sequence[Event]) -> tuple[list[float], list[float], Counter[str]]:
    """Each event through its task, one after the other: CPU and wall seconds of each."""
    cpu, wall = [], []
    outcomes: Counter[str] = Counter()
    for task_name, event_id, payload in events:
        task = app.tasks[task_name]
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
    app: Any,
    events: Sequence[Event],
    top: int,
    sort: str,
    out_file: str | None = None,
) -> str:
    """The events under cProfile: the ``top`` functions by ``sort`` (pstats' key); the raw
    profile also into ``out_file`` (for `python -m pstats`)."""
    profiler = cProfile.Profile()
    profiler.enable()
    _, _, outcomes = run_events(app, events)
    profiler.disable()
    if set(outcomes) != {"done"}:
        raise SystemExit(f"profiled events did not all end done: {dict(outcomes)}")
    if out_file:
        profiler.dump_stats(out_file)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(sort).print_stats(top)
    return out.getvalue()


def measure_flow(
    app: Any, parts: Parts, flow: Flow, number: int, args: argparse.Namespace
) -> tuple[dict[str, Any], str | None]:
    """``args.events`` events of ``flow`` on locations of their own: the result and the
    profile (when asked)."""
    rounds = 2 if args.profile else 1  # the profile's events run on the same locations
    # A flow that makes no GHL call runs on ONE location, as this benchmark always measured
    # the cached post.published.
    locations = math.ceil(rounds * args.events / EVENTS_PER_LOCATION) if flow.ghl_calls else 1
    posts = WARMUP + EVENTS_PER_LOCATION + 1
    connections = [
        new_connection(parts, f"cpu{number}x{i:02d}", posts=posts) for i in range(locations)
    ]
    # Warm: imports, pools, the engine, and every location's tags listed into the cache.
    lister = FLOWS["post.published"]
    warm_events = [
        record_event(parts.store, connection, flow=lister, serial=0, post=1)
        for connection in connections
    ]
    warm_events += record_events(parts.store, connections[:1], flow, WARMUP, 0)
    _, _, warm = run_events(app, warm_events)
    if set(warm) != {"done"}:
        raise SystemExit(f"{flow.name}: warm-up events did not all end done: {dict(warm)}")
    first = WARMUP * len(connections)  # every location's posts after the warm-up's
    events = record_events(parts.store, connections, flow, args.events, first)
    parts.http.delete(f"{parts.ghl_url}/_sandbox/journal").raise_for_status()
    parts.http.delete(f"{parts.crm_url}/_sandbox/deliveries").raise_for_status()
    sandbox_cpu = {which: child.cpu_seconds() for which, child in parts.sandboxes.items()}
    cpu, wall, outcomes = run_events(app, events)
    sandbox_cpu = {
        which: child.cpu_seconds() - sandbox_cpu[which] for which, child in parts.sandboxes.items()
    }
    ghl_calls = int(parts.http.get(f"{parts.ghl_url}/_sandbox/journal/counts").json()["total"])
    deliveries = len(parts.http.get(f"{parts.crm_url}/_sandbox/deliveries").json())
    profile = None
    if args.profile:
        more = record_events(parts.store, connections, flow, args.events, first + args.events)
        profile = profile_top(app, more, 20, args.profile_sort, args.profile_out)
    expected_calls = flow.ghl_calls * args.events
    result = {
        "flow": flow.name,
        "event": flow.event,
        "task": flow.task,
        "events": args.events,
        "locations": locations,
        "outcomes": dict(outcomes),
        "ghl_calls": ghl_calls,
        "ghl_calls_expected": expected_calls,
        "crm_writebacks": deliveries,
        "cpu": _ms(cpu),
        "wall": _ms(wall),
        "sandbox_crm_cpu_ms_per_writeback": sandbox_cpu["crm"] * 1000 / max(deliveries, 1),
        "sandbox_ghl_cpu_ms_per_call": sandbox_cpu["ghl"] * 1000 / ghl_calls if ghl_calls else None,
        "ok": outcomes == Counter({"done": args.events})
        and ghl_calls == expected_calls
        and deliveries == args.events,
    }
    return result, profile


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.event_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--flow",
        choices=[*FLOWS, ALL],
        default="post.published",
        help="the flow measured (default post.published, cached); 'all': each in turn",
    )
    parser.add_argument(
        "--events", type=int, default=200, help="events measured per flow (default 200)"
    )
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
    parser.add_argument(
        "--profile-out",
        metavar="FILE",
        help="the raw profile (pstats) to FILE (with 'all': the last flow's)",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flows = list(FLOWS.values()) if args.flow == ALL else [FLOWS[args.flow]]
    info = machine()
    print_machine(info)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    results: list[dict[str, Any]] = []
    profiles: dict[str, str] = {}
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
            for number, flow in enumerate(flows):
                result, profile = measure_flow(app, parts, flow, number, args)
                results.append(result)
                if profile is not None:
                    profiles[flow.name] = profile
        finally:
            app.services.dispose()
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            handler.close()

    for result in results:
        print(
            f"\n{result['events']} {result['flow']} events over {result['locations']} "
            f"location(s), task {result['task']} in process: {result['ghl_calls']} GHL calls "
            f"(expected {result['ghl_calls_expected']}), {result['crm_writebacks']} CRM "
            f"write-backs, outcomes {result['outcomes']}"
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
    print("\nPer flow, CPU ms (mean per event; the sandboxes' per write-back and per GHL call):")
    print(
        format_table(
            ["flow", "worker CPU", "p50", "sandbox CRM / write-back", "sandbox GHL / call"],
            [
                [
                    r["flow"],
                    r["cpu"]["mean_ms"],
                    r["cpu"]["p50_ms"],
                    r["sandbox_crm_cpu_ms_per_writeback"],
                    ""
                    if r["sandbox_ghl_cpu_ms_per_call"] is None
                    else r["sandbox_ghl_cpu_ms_per_call"],
                ]
                for r in results
            ],
        )
    )
    order = "own time" if args.profile_sort == "tottime" else "time with callees"
    for name, profile in profiles.items():
        print(f"\ncProfile of {name}, {args.events} more events, top 20 by {order}:\n{profile}")
    if args.json:
        dump_json(
            args.json,
            {"benchmark": "event_cpu", "machine": info, "events": args.events, "flows": results},
        )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
