"""End to end: events per second and latency from webhook to write-back, for the three flows.

    .venv/bin/python -m bench.end_to_end [--configs 1,2] [--burst 120] [--json FILE|-]

Everything runs as under `make run`, in a temporary folder: the embedded Redis, a SQLite file,
the sandbox GHL and sandbox CRM (`python -m sandbox`, GHL's rate limit as HighLevel's: 100
requests per 10 s per location), the web app under gunicorn (2 sync workers) and one `celery
-A workers worker` per configuration (`--configs 1,2` = `--concurrency 1`, then 2; `2x2` = two
worker processes of concurrency 2).

What each event costs GHL:
    post.published          3 x GET .../tags (250 seeded tags, pages of 100; no ghl_post_id)
    tag.details_requested   1 x POST .../tags/details (3 tag ids of the location)
    statistics.requested    GET .../accounts, POST /statistics (5 profiles)
and one signed write-back to the sandbox CRM.

For each configuration and flow:
  * sequential: `--sequential` events one at a time, each sent when the last is `done`:
    the latency of one event on an idle system;
  * burst: `--burst` events sent at once by `--senders` threads, spread round-robin over
    `--locations` connections (one GHL location each, so the per-location rate limit is not
    what is measured; the 429 count shows it). Events/s = events / (first send -> last done).

Then the rate limit's effect: `--single-location` post.published events on ONE location,
with the production retry settings (429 -> retry through the queue after at least Retry-After,
exponential backoff with full jitter), one worker of concurrency 2.

Latencies: from the 202 the sender received to the event's `finished_at` in the store
(`done`), and to the sandbox CRM's `received_at` of the stored write-back. The worker logs in
JSON so their `ghl.request` / `crm.write` lines give each outside call's duration.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import cProfile
import datetime as dt
import http.client
import json
import logging
import math
import pstats
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.stack import (
    Child,
    SignedRequest,
    Stack,
    cpu_table,
    cpu_used,
    dump_json,
    format_table,
    machine,
    percentile,
    print_machine,
    signed_request,
    summary_ms,
)
from sandbox.ghl.seed import seed_location
from schemas.events import dump_event, load_event
from socialbridge.logs import JsonFormatter
from store import ConnectionRecord
from workers.execution import execute_event
from workers.services import Services

FLOWS = ("post.published", "tag.details_requested", "statistics.requested")
FINAL = ("done", "dead")
PHASE_TIMEOUT = 240.0
MAX_EVENTS_PER_PHASE = 1000


@dataclass(frozen=True)
class Config:
    """`instances` celery worker processes, each `--concurrency concurrency`."""

    instances: int
    concurrency: int

    @classmethod
    def parse(cls, text: str) -> Config:
        instances, _, concurrency = text.partition("x")
        return cls(1, int(instances)) if not concurrency else cls(int(instances), int(concurrency))

    @property
    def label(self) -> str:
        if self.instances == 1:
            return f"1 worker, concurrency {self.concurrency}"
        return f"{self.instances} workers, concurrency {self.concurrency} each"

    @property
    def pool_processes(self) -> int:
        return self.instances * self.concurrency


@dataclass
class Sent:
    event_id: str
    accepted_at: float  # wall clock (time.time()) when the 202 was read


class Bench:
    """The running stack, its connections, and the moves of one measurement."""

    def __init__(self, stack: Stack, connections: Sequence[ConnectionRecord]) -> None:
        self.stack = stack
        self.connections = list(connections)
        self.http = httpx.Client(timeout=30)
        self.serial = 0
        parts = urlsplit(stack.web_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._tag_ids = {
            c.location_id: [t.id for t in seed_location(c.location_id, seed=0).tags[:3]]
            for c in self.connections
        }

    # -- events ----------------------------------------------------------------------------

    def request(self, flow: str, connection: ConnectionRecord) -> SignedRequest:
        self.serial += 1
        post_id = f"crm-post-{self.serial}"
        data: dict[str, Any]
        if flow == "post.published":
            data = {"post_id": post_id, "title": f"Benchmark post {self.serial}"}
        elif flow == "tag.details_requested":
            data = {"post_id": post_id, "tag_ids": self._tag_ids[connection.location_id]}
        else:
            data = {}
        return signed_request(connection, flow, data)

    def send(self, request: SignedRequest) -> Sent:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("POST", request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            body = response.read()
            accepted_at = time.time()
        finally:
            connection.close()
        if response.status != 202:
            raise RuntimeError(f"webhook answered {response.status}: {body[:300]!r}")
        return Sent(json.loads(body)["event_id"], accepted_at)

    def send_all(self, requests: Sequence[SignedRequest], senders: int) -> list[Sent]:
        """Send every request, `senders` threads at a time; the order of the 202s is kept."""
        sent: list[list[Sent]] = [[] for _ in range(senders)]
        errors: list[BaseException] = []

        def sender(index: int) -> None:
            try:
                sent[index].extend(self.send(r) for r in requests[index::senders])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sorted((s for batch in sent for s in batch), key=lambda s: s.accepted_at)

    def final_count(self) -> int:
        counts = self.stack.store.count_events_by_status()
        return sum(counts.get(status, 0) for status in FINAL)

    def wait_final(self, target: int, *, timeout: float = PHASE_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.final_count() < target:
            if time.monotonic() > deadline:
                counts = self.stack.store.count_events_by_status()
                tails = "\n".join(w.log_tail(15) for w in self.stack.workers)
                raise RuntimeError(f"events not final after {timeout} s: {counts}\n{tails}")
            time.sleep(0.05)

    def wait_event(self, event_id: str) -> None:
        deadline = time.monotonic() + PHASE_TIMEOUT
        while True:
            event = self.stack.store.get_event(event_id)
            if event is not None and event.status in FINAL:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"event {event_id} stuck at {event}")
            time.sleep(0.005)

    # -- the sandboxes ---------------------------------------------------------------------

    def reset_sandboxes(self) -> None:
        self.http.delete(f"{self.stack.ghl_url}/_sandbox/journal").raise_for_status()
        self.http.delete(f"{self.stack.crm_url}/_sandbox/deliveries").raise_for_status()

    def ghl_journal(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self.http.get(
            f"{self.stack.ghl_url}/_sandbox/journal"
        ).json()
        return journal

    def crm_deliveries(self) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self.http.get(
            f"{self.stack.crm_url}/_sandbox/deliveries"
        ).json()
        return deliveries

    # -- one measurement -------------------------------------------------------------------

    def measure(
        self,
        *,
        run: Callable[[], list[Sent]],
        expected: int,
        log_offsets: Mapping[str, int],
    ) -> dict[str, Any]:
        """Run a phase, wait for every event to be final, then gather what happened."""
        self.reset_sandboxes()
        baseline = self.final_count()
        before = self.stack.cpu_snapshot()
        began = time.time()
        sent = run()
        self.wait_final(baseline + expected)
        after = self.stack.cpu_snapshot()
        events = [self.stack.store.get_event(s.event_id) for s in sent]
        finished = [e.finished_at.timestamp() for e in events if e is not None and e.finished_at]
        wall = max(finished) - began
        stored = {
            d["webhook_id"].split(".")[0]: _timestamp(d["received_at"])
            for d in self.crm_deliveries()
            if d.get("outcome") == "stored"
        }
        journal = self.ghl_journal()
        statuses = Counter(entry["response_status"] for entry in journal)

        to_done, to_writeback, queue_wait, processing, attempts = [], [], [], [], Counter[int]()
        dead = 0
        for s, event in zip(sent, events, strict=True):
            assert event is not None
            attempts[event.attempts] += 1
            if event.status == "dead":
                dead += 1
                continue
            assert event.finished_at is not None
            assert event.started_at is not None
            to_done.append(event.finished_at.timestamp() - s.accepted_at)
            if s.event_id in stored:
                to_writeback.append(stored[s.event_id] - s.accepted_at)
            if event.attempts == 1:
                queue_wait.append(event.started_at.timestamp() - s.accepted_at)
                processing.append((event.finished_at - event.started_at).total_seconds())
        calls = self.outside_calls(log_offsets)
        return {
            "events": len(sent),
            "dead": dead,
            "wall_s": wall,
            "events_per_s": len(sent) / wall,
            "accept_to_done": summary_ms(to_done),
            "accept_to_writeback": summary_ms(to_writeback),
            "writebacks_stored": len(stored),
            "queue_wait_p50_ms": percentile(queue_wait, 50) * 1000,
            "processing_p50_ms": percentile(processing, 50) * 1000,
            "attempts": dict(sorted(attempts.items())),
            "ghl_requests": len(journal),
            "ghl_statuses": dict(sorted(statuses.items())),
            "ghl_429": statuses.get(429, 0),
            **calls,
            "cpu_seconds": cpu_used(before, after),
            "_cpu_before": before,
            "_cpu_after": after,
        }

    def log_offsets(self) -> dict[str, int]:
        return {w.name: w.log_path.stat().st_size for w in self.stack.workers}

    def outside_calls(self, offsets: Mapping[str, int]) -> dict[str, Any]:
        """Durations of GHL requests and CRM writes the workers logged since `offsets`."""
        ghl: list[float] = []
        crm: list[float] = []
        for worker in self.stack.workers:
            for line in _new_lines(worker, offsets.get(worker.name, 0)):
                if not line.startswith("{"):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == "ghl.request" and record.get("status") is not None:
                    ghl.append(float(record["elapsed_ms"]))
                elif record.get("event") == "crm.write" and "elapsed_ms" in record:
                    crm.append(float(record["elapsed_ms"]))
        return {
            "ghl_call_p50_ms": percentile(ghl, 50),
            "ghl_call_p95_ms": percentile(ghl, 95),
            "crm_write_p50_ms": percentile(crm, 50),
            "crm_write_p95_ms": percentile(crm, 95),
        }


def _new_lines(worker: Child, offset: int) -> list[str]:
    with worker.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace").splitlines()


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- in process: where a worker's time goes -------------------------------------------------

# (label, file suffix, functions) whose cumulative time the profile reports; none nests in another.
PROFILED = (
    ("new httpx.Client for GHL and CRM", "workers/services.py", ("ghl_for", "crm_for")),
    ("GHL requests + parsing answers", "ghl/client.py", ("_call",)),
    ("CRM write-back (dump + sign + POST)", "crm/webhook/connector.py", ("write",)),
    ("store: post record / snapshot", "store/posts.py", ("save_post_tags", "save_tag_details")),
    ("store: post record / snapshot", "store/snapshots.py", ("save_snapshot",)),
    ("store: event status + connection", "store/events.py",
     ("get_event", "start_attempt", "mark_done")),
    ("store: event status + connection", "store/connections.py", ("get_connection",)),
)  # fmt: skip


def profile_flows(bench: Bench, flows: Sequence[str], count: int) -> dict[str, Any]:
    """Run `count` events per flow through `execute_event` in this process (no queue): the
    mean time per event, then a cProfile breakdown. Each run gets its own fresh location."""
    stack = bench.stack
    root = logging.getLogger()
    handler = logging.FileHandler(stack.workdir / "in-process.log")
    handler.setFormatter(JsonFormatter())
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)  # as the workers log
    services = Services(stack.settings)
    results: dict[str, Any] = {}
    try:
        began = time.perf_counter()
        for _ in range(count):
            httpx.Client().close()
        results["new_httpx_client_ms"] = (time.perf_counter() - began) / count * 1000
        for flow in flows:
            connections = []
            for mode in ("plain", "profiled"):
                name = f"prof-{flow.split('.')[0]}-{mode}"
                location, token = f"loc_{name}", f"pit-{name}"
                stack.add_ghl_location(location, token)
                connections.append(stack.new_connection(name, location, token))
                bench._tag_ids[location] = [t.id for t in seed_location(location, seed=0).tags[:3]]
            # One event first, so imports, engines and the pools are warm.
            execute_event(services, _record(bench, services, flow, connections[0]))
            events = [_record(bench, services, flow, connections[0]) for _ in range(count)]
            began = time.perf_counter()
            outcomes = Counter(execute_event(services, event_id).status for event_id in events)
            mean_ms = (time.perf_counter() - began) / count * 1000
            events = [_record(bench, services, flow, connections[1]) for _ in range(count)]
            profiler = cProfile.Profile()
            profiler.enable()
            for event_id in events:
                execute_event(services, event_id)
            profiler.disable()
            stats: dict[Any, tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
            total = _cumulative(stats, "workers/execution.py", ("execute_event",))
            shares: dict[str, float] = {}
            for label, suffix, functions in PROFILED:
                part = _cumulative(stats, suffix, functions) / total if total else 0.0
                shares[label] = shares.get(label, 0.0) + part
            shares["rest (payload, logging, ...)"] = 1 - sum(shares.values())
            # What inside those new clients costs: loading the CA bundle into an SSL context.
            clients = _cumulative(stats, "workers/services.py", ("ghl_for", "crm_for"))
            certificates = sum(
                float(values[3])
                for (_, _, function), values in stats.items()
                if "load_verify_locations" in function
            )
            results[flow] = {
                "ca_loading_share_of_new_clients": certificates / clients if clients else 0.0,
                "mean_ms_unprofiled": mean_ms,
                "outcomes": dict(outcomes),
                "shares": shares,
            }
    finally:
        services.dispose()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        handler.close()
    return results


def _record(bench: Bench, services: Services, flow: str, connection: ConnectionRecord) -> str:
    request = bench.request(flow, connection)
    event = load_event(json.loads(request.body))
    record, _ = services.store.record_event(
        connection_id=connection.id,
        type=flow,
        payload=dump_event(event),
        webhook_id=request.webhook_id,
    )
    return record.id


def _cumulative(stats: Mapping[Any, tuple[Any, ...]], suffix: str, names: Sequence[str]) -> float:
    return sum(
        float(values[3])
        for (filename, _, function), values in stats.items()
        if function in names and filename.replace("\\", "/").endswith(suffix)
    )


def profile_table(profile: Mapping[str, Any], flows: Sequence[str]) -> str:
    labels = list(profile[flows[0]]["shares"])
    rows = [["mean ms per event (unprofiled)", *(profile[f]["mean_ms_unprofiled"] for f in flows)]]
    for label in labels:
        rows.append([f"% {label}", *(100 * profile[f]["shares"][label] for f in flows)])
    rows.append(
        [
            "% of the new clients' time loading CA certificates",
            *(100 * profile[f]["ca_loading_share_of_new_clients"] for f in flows),
        ]
    )
    return format_table(["", *flows], rows)


# --- the phases ---------------------------------------------------------------------------


def sequential(bench: Bench, flow: str, count: int) -> Callable[[], list[Sent]]:
    def run() -> list[Sent]:
        sent = []
        for i in range(count):
            connection = bench.connections[i % len(bench.connections)]
            # Signed just before sending: only the wait for `done` is between two events.
            s = bench.send(bench.request(flow, connection))
            bench.wait_event(s.event_id)
            sent.append(s)
        return sent

    return run


def burst(
    bench: Bench, flow: str, count: int, senders: int, connections: Sequence[ConnectionRecord]
) -> Callable[[], list[Sent]]:
    requests = [bench.request(flow, connections[i % len(connections)]) for i in range(count)]
    return lambda: bench.send_all(requests, senders)


def row_of(label: str, flow: str, phase: str, m: Mapping[str, Any]) -> list[Any]:
    return [
        label,
        flow,
        phase,
        m["events"],
        m["events_per_s"],
        m["accept_to_done"]["p50_ms"],
        m["accept_to_done"]["p95_ms"],
        m["accept_to_done"]["p99_ms"],
        m["accept_to_writeback"]["p50_ms"],
        m["accept_to_writeback"]["p95_ms"],
        1000 * m["cpu_seconds"].get("workers (celery)", math.nan) / m["events"],
        m["ghl_429"],
        m["dead"],
    ]


ROW_HEADERS = [
    "workers",
    "flow",
    "phase",
    "events",
    "events/s",
    "done p50 ms",
    "done p95 ms",
    "done p99 ms",
    "CRM p50 ms",
    "CRM p95 ms",
    "worker CPU ms/event",
    "GHL 429s",
    "dead",
]


def print_end_to_end(
    locations: int, rows: Sequence[Sequence[Any]], runs: Sequence[Mapping[str, Any]]
) -> None:
    print(f"\nEnd to end over {locations} GHL locations (round-robin):")
    print(format_table(ROW_HEADERS, rows))
    print(
        format_table(
            ["workers", "flow", "phase", "queue wait p50 ms", "processing p50 ms",
             "GHL call p50 ms", "GHL call p95 ms", "CRM write p50 ms", "GHL requests"],
            [
                [r["config"], r["flow"], r["phase"], r["queue_wait_p50_ms"],
                 r["processing_p50_ms"], r["ghl_call_p50_ms"], r["ghl_call_p95_ms"],
                 r["crm_write_p50_ms"], r["ghl_requests"]]
                for r in runs
            ],
        )
    )  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.end_to_end", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--configs", default="1,2", help="worker configs: N (concurrency N) or IxN (default 1,2)")
    add("--flows", default=",".join(FLOWS), help="flows to measure (default: all three)")
    add("--locations", type=int, default=20, help="GHL locations to spread bursts over")
    add("--sequential", type=int, default=20, help="events sent one at a time per flow")
    add("--burst", type=int, default=120, help="events sent at once per flow")
    add("--senders", type=int, default=4, help="threads sending a burst")
    add("--single-location", type=int, default=120, help="post.published on one location (0: skip)")
    add("--profile", type=int, default=15, help="events per flow profiled in process (0: skip)")
    add("--json", metavar="FILE", help="also write the results as JSON (- for stdout)")
    args = parser.parse_args(argv)
    if max(args.burst, args.sequential, args.single_location) > MAX_EVENTS_PER_PHASE:
        parser.error(f"at most {MAX_EVENTS_PER_PHASE} events per phase")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configs = [Config.parse(text) for text in args.configs.split(",") if text]
    flows = [flow for flow in args.flows.split(",") if flow]
    unknown = set(flows) - set(FLOWS)
    if unknown:
        raise SystemExit(f"unknown flows: {sorted(unknown)}")
    info = machine()
    print_machine(info)
    results: dict[str, Any] = {
        "benchmark": "end_to_end",
        "machine": info,
        "web": "gunicorn, 2 sync workers",
        "locations": args.locations,
        "runs": [],
    }
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        Stack(Path(tmp), sandboxes=True, log_format="json") as stack,
    ):
        connections = []
        for i in range(args.locations):
            location, token = f"loc_bench{i:02d}", f"pit-bench-{i:02d}"
            stack.add_ghl_location(location, token)
            connections.append(stack.new_connection(f"bench{i:02d}", location, token))
        single_location, single_token = "loc_single", "pit-bench-single"
        stack.add_ghl_location(single_location, single_token)
        single = stack.new_connection("single", single_location, single_token)
        bench = Bench(stack, [*connections, single])
        bench.connections = connections  # the single location is used by its own phase only

        rows = []
        for config in configs:
            for _ in range(config.instances):
                stack.start_worker(config.concurrency)
            # One event per flow first, so imports and connection pools are warm.
            for flow in flows:
                bench.measure(run=sequential(bench, flow, 2), expected=2, log_offsets={})
            for flow in flows:
                for phase in ("sequential", "burst"):
                    if phase == "sequential":
                        run, count = sequential(bench, flow, args.sequential), args.sequential
                    else:
                        run = burst(bench, flow, args.burst, args.senders, connections)
                        count = args.burst
                    m = bench.measure(run=run, expected=count, log_offsets=bench.log_offsets())
                    print(
                        f"\n{config.label}, {flow}, {phase}: {count} events in {m['wall_s']:.1f} s"
                    )
                    print(cpu_table(m.pop("_cpu_before"), m.pop("_cpu_after"), m["wall_s"]))
                    results["runs"].append(
                        {"config": config.label, "flow": flow, "phase": phase, **m}
                    )
                    rows.append(row_of(config.label, flow, phase, m))
            stack.stop_workers()

        if rows:
            print_end_to_end(args.locations, rows, results["runs"])

        if args.single_location > 0:
            config = Config(1, 2)
            stack.start_worker(config.concurrency)
            bench.measure(run=sequential(bench, "post.published", 1), expected=1, log_offsets={})
            # A fresh window: nothing was sent to the single location yet.
            m = bench.measure(
                run=burst(bench, "post.published", args.single_location, args.senders, [single]),
                expected=args.single_location,
                log_offsets=bench.log_offsets(),
            )
            stack.stop_workers()
            n = args.single_location
            tag_ok = sum(
                count for status, count in m["ghl_statuses"].items() if 200 <= int(status) < 300
            )
            floor = 10 * (math.ceil(3 * n / 100) - 1)
            m.update(
                config=config.label,
                flow="post.published",
                phase="one location",
                ghl_ok=tag_ok,
                wasted_ok_requests=tag_ok - 3 * (n - m["dead"]),
                rate_limit_floor_s=floor,
            )
            print(f"\nOne location, {n} post.published (3 tag pages each), {config.label}:")
            print(cpu_table(m.pop("_cpu_before"), m.pop("_cpu_after"), m["wall_s"]))
            print(
                format_table(
                    ["events", "wall s", "floor s", "events/s", "done p50 s", "done p95 s",
                     "done max s",
                     "GHL 2xx", "GHL 2xx/s", "GHL 429", "2xx wasted", "attempts: events", "dead"],
                    [[n, m["wall_s"], floor, m["events_per_s"],
                      m["accept_to_done"]["p50_ms"] / 1000, m["accept_to_done"]["p95_ms"] / 1000,
                      m["accept_to_done"]["max_ms"] / 1000,
                      tag_ok, tag_ok / m["wall_s"], m["ghl_429"], m["wasted_ok_requests"],
                      " ".join(f"{a}:{c}" for a, c in m["attempts"].items()), m["dead"]]],
                )
            )  # fmt: skip
            results["single_location"] = m

        if args.profile > 0:
            profile = profile_flows(bench, flows, args.profile)
            results["in_process_profile"] = profile
            print(
                f"\nIn process (execute_event, no queue), {args.profile} events per flow; "
                f"a new httpx.Client() costs {profile['new_httpx_client_ms']:.1f} ms:"
            )
            print(profile_table(profile, flows))
    results["total_seconds"] = round(time.monotonic() - started, 1)
    print(f"\ntotal {results['total_seconds']} s")
    if args.json:
        dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
