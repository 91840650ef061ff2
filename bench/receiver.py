"""Webhook intake: throughput and latency of signed `post.published` deliveries.

    .venv/bin/python -m bench.receiver [--clients 1,4,16] [--requests 200] [--json FILE|-]

The web app runs under gunicorn with 2 sync workers, as `make run` starts it, on the embedded
Redis and a SQLite file in a temporary folder. No Celery worker runs: this measures intake
only (verify the signature, validate, record the event, enqueue the task, answer 202). For
each number of concurrent clients, every client sends `--requests` deliveries one after the
other over a new connection each (gunicorn's sync workers close it after every answer). All
deliveries are signed before the clock starts. Afterwards the queue must hold exactly one task
per 202; it is emptied before the next step.

Then the same view runs in this process through Flask's test client, once plainly and once
under cProfile, to show where a request's time goes (no HTTP, no gunicorn).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import cProfile
import http.client
import logging
import pstats
import tempfile
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from bench.stack import (
    SignedRequest,
    Stack,
    cpu_table,
    cpu_used,
    dump_json,
    format_table,
    machine,
    print_machine,
    signed_request,
    summary_ms,
)
from socialbridge.logs import TextFormatter
from store import ConnectionRecord
from webapp import create_app

EVENT = "post.published"
MAX_TOTAL_REQUESTS = 20_000

# (label, file suffix, function) whose cumulative time the profile reports.
PROFILED = (
    ("signature check (_verify)", "webapp/webhooks.py", "_verify"),
    ("connection: SELECT + decrypt secrets", "store/connections.py", "get_connection"),
    ("parse + validate (load_event)", "schemas/events.py", "load_event"),
    ("record event: SQLite look-up + INSERT", "store/events.py", "record_event"),
    ("enqueue: Celery send_task to Redis", "workers/dispatch.py", "enqueue_event"),
)


def build_requests(connection: ConnectionRecord, count: int, tag: str) -> list[SignedRequest]:
    return [
        signed_request(
            connection, EVENT, {"post_id": f"crm-{tag}-{i}", "title": f"Benchmark post {i}"}
        )
        for i in range(count)
    ]


def send(host: str, port: int, request: SignedRequest) -> tuple[float, int]:
    """One delivery on a fresh connection; (seconds, HTTP status)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("POST", request.path, body=request.body, headers=request.headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    finally:
        connection.close()
    return time.perf_counter() - started, status


def run_level(web_url: str, batches: list[list[SignedRequest]]) -> dict[str, Any]:
    """Every batch sent by its own thread at the same time; latencies, statuses, wall time."""
    parts = urlsplit(web_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[list[float]] = [[] for _ in batches]
    statuses: list[Counter[int]] = [Counter() for _ in batches]
    start = threading.Barrier(len(batches) + 1)

    def client(index: int) -> None:
        start.wait()
        for request in batches[index]:
            seconds, status = send(host, port, request)
            latencies[index].append(seconds)
            statuses[index][status] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    all_latencies = [s for per_client in latencies for s in per_client]
    status_counts: Counter[int] = sum(statuses, Counter())
    return {
        "requests": len(all_latencies),
        "wall_s": wall,
        "throughput_rps": len(all_latencies) / wall,
        "statuses": dict(status_counts),
        **summary_ms(all_latencies),
    }


def profile_in_process(stack: Stack, connection: ConnectionRecord, count: int) -> dict[str, Any]:
    """The view through Flask's test client: plain mean time, then a cProfile breakdown."""
    # Log as the gunicorn workers do (INFO, text), but to a file, so the cost is comparable.
    root = logging.getLogger()
    handler = logging.FileHandler(stack.workdir / "in-process.log")
    handler.setFormatter(TextFormatter())
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    app = create_app(stack.settings)
    client = app.test_client()
    try:
        for request in build_requests(connection, 20, "inproc-warm"):
            client.post(request.path, data=request.body, headers=request.headers)
        plain = build_requests(connection, count, "inproc-plain")
        began = time.perf_counter()
        for request in plain:
            answer = client.post(request.path, data=request.body, headers=request.headers)
            if answer.status_code != 202:
                raise RuntimeError(f"in-process delivery answered {answer.status_code}")
        mean_ms = (time.perf_counter() - began) / count * 1000

        profiled = build_requests(connection, count, "inproc-profiled")
        profiler = cProfile.Profile()
        profiler.enable()
        for request in profiled:
            client.post(request.path, data=request.body, headers=request.headers)
        profiler.disable()
    finally:
        app.extensions["socialbridge"].dispose()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        handler.close()

    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    view = _cumulative(stats, "webapp/webhooks.py", "receive")
    shares = {
        label: _cumulative(stats, suffix, function) / view if view else 0.0
        for label, suffix, function in PROFILED
    }
    shares["rest of the view (logging, JSON answer, ...)"] = 1 - sum(shares.values())
    rows = [{"part": label, "share_of_view": share} for label, share in shares.items()]
    return {"requests": count, "mean_ms_unprofiled": mean_ms, "breakdown": rows}


def _cumulative(
    stats: dict[tuple[str, int, str], tuple[Any, ...]], suffix: str, name: str
) -> float:
    return sum(
        float(values[3])
        for (filename, _, function), values in stats.items()
        if function == name and filename.replace("\\", "/").endswith(suffix)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.receiver", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--clients", default="1,4,16", help="concurrent clients per step (default 1,4,16)"
    )
    parser.add_argument(
        "--requests", type=int, default=400, help="deliveries per client (default 400)"
    )
    parser.add_argument(
        "--web-workers", type=int, default=2, help="gunicorn sync workers (default 2, as make run)"
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="deliveries before measuring (default 100)"
    )
    parser.add_argument(
        "--profile-requests", type=int, default=300, help="in-process profile size (0: skip)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON (- for stdout)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    levels = [int(n) for n in args.clients.split(",")]
    if sum(levels) * args.requests > MAX_TOTAL_REQUESTS:
        raise SystemExit(f"at most {MAX_TOTAL_REQUESTS} deliveries in all; lower --requests")
    info = machine()
    print_machine(info)
    results: dict[str, Any] = {
        "benchmark": "receiver",
        "machine": info,
        "server": f"gunicorn, {args.web_workers} sync workers",
        "event": EVENT,
        "requests_per_client": args.requests,
        "levels": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        Stack(Path(tmp), sandboxes=False, web_workers=args.web_workers) as stack,
    ):
        connection = stack.new_connection("bench", "loc_bench", "pit-unused")
        warm = build_requests(connection, args.warmup, "warm")
        run_level(stack.web_url, [warm[i::4] for i in range(4)])
        stack.purge_queue()

        rows = []
        for clients in levels:
            batches = [
                build_requests(connection, args.requests, f"c{clients}-{i}") for i in range(clients)
            ]
            before = stack.cpu_snapshot()
            level = run_level(stack.web_url, batches)
            after = stack.cpu_snapshot()
            queued = stack.purge_queue()
            accepted = level["statuses"].get(202, 0)
            level.update(
                clients=clients,
                tasks_queued=queued,
                queue_matches_202s=queued == accepted,
                cpu_seconds=cpu_used(before, after),
            )
            results["levels"].append(level)
            rows.append(
                [
                    clients,
                    level["requests"],
                    level["throughput_rps"],
                    level["p50_ms"],
                    level["p95_ms"],
                    level["p99_ms"],
                    level["max_ms"],
                    1000 * level["cpu_seconds"]["web (gunicorn)"] / level["requests"],
                    ", ".join(f"{k}: {v}" for k, v in sorted(level["statuses"].items())),
                    queued,
                ]
            )
            print(f"\n{clients} client(s): CPU used during the step ({level['wall_s']:.1f} s)")
            print(cpu_table(before, after, level["wall_s"]))

        print(
            f"\nWebhook intake, gunicorn {args.web_workers} sync workers, embedded Redis, SQLite:"
        )
        print(
            format_table(
                [
                    "clients",
                    "requests",
                    "req/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "web CPU ms/req",
                    "answers",
                    "queued",
                ],
                rows,
            )
        )

        if args.profile_requests > 0:
            profile = profile_in_process(stack, connection, args.profile_requests)
            stack.purge_queue()
            results["in_process_profile"] = profile
            print(
                "\nIn process (Flask test client, no HTTP): "
                f"{profile['mean_ms_unprofiled']:.2f} ms per delivery over {profile['requests']}; "
                "share of the view's time under cProfile:"
            )
            print(
                format_table(
                    ["part", "% of view"],
                    [[row["part"], 100 * row["share_of_view"]] for row in profile["breakdown"]],
                )
            )
    if args.json:
        dump_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
