"""Webhook intake against a bare Flask app, both under the Procfile's `web` command line.

    .venv/bin/python -m bench.receiver [--rounds 3] [--requests 500] [--json FILE|-]

The receiver runs as the Procfile's `web` line runs it (read from the Procfile itself, so this
cannot drift from it), on the embedded Redis and a SQLite file in a temporary folder, with no
Celery worker: this measures intake only (authenticate, validate, record the event, enqueue
its task, answer 202). The bare app (`bench.bare_flask`) runs under the very same line with
only the app swapped: what gunicorn and Flask cost without the receiver's work.

A load process of its own keeps `--connections` keep-alive connections open and sends on each
`--requests` signed `post.published` deliveries one after the other (all signed before the
clock starts). The two apps take turns, `--rounds` times each, the first of each round
alternating, so that a machine that slows down or speeds up during the run weighs on both.
The ratio is the receiver's requests per second over the bare app's, over all rounds.

Afterwards the queue must hold exactly one task per 202, for the event the 202 named, and the
store exactly one event per 202; the run fails otherwise.

Then the same view runs in this process through Flask's test client, once plainly and once
under cProfile, to show where a request's time goes (no HTTP, no gunicorn; one request at a
time, so each batch of `webapp.group_commit` holds one delivery).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import cProfile
import json
import logging
import multiprocessing
import pstats
import selectors
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import redis

from bench.procfile import procfile_argv
from bench.stack import (
    QUEUE,
    Child,
    SignedRequest,
    Stack,
    cpu_used,
    dump_json,
    format_table,
    machine,
    print_machine,
    signed_request,
    spawn,
    summary_ms,
    tree_cpu_seconds,
    wait_until,
)
from socialbridge.embedded_redis import free_port
from socialbridge.logs import TextFormatter
from store import ConnectionRecord
from webapp import create_app
from workers.dispatch import event_id_of_task

EVENT = "post.published"
RECEIVER_APP = "webapp:create_app()"
BARE_APP = "bench.bare_flask:create_app()"
RECEIVER = "receiver"
BARE = "bare Flask"
MAX_TOTAL_REQUESTS = 100_000
CORES = len(psutil.Process().cpu_affinity() or [0]) or 1
# The load process gives up on a step after this long (a server that stopped answering).
STEP_DEADLINE_SECONDS = 300.0
GOAL_RATIO = 0.8
GOAL_P99_MS = 25.0

# (label, file suffix, function) whose cumulative time the profile reports.
PROFILED = (
    ("authenticate (signature check)", "webapp/inbound_auth.py", "authenticate"),
    ("connection (cached; SELECT + decrypt on a miss)", "webapp/webhooks.py", "_connection"),
    ("parse + validate (event_from_body)", "workers/intake.py", "event_from_body"),
    ("payload as stored (dump_event)", "schemas/events.py", "dump_event"),
    ("record: one INSERT and commit per batch (record_events)", "store/events.py", "record_events"),
    (
        "enqueue: one Redis round trip per batch (publish_events)",
        "workers/publish.py",
        "publish_events",
    ),
    ("log lines (EventLogger)", "socialbridge/logs.py", "_log"),
)


def web_command(app: str) -> Callable[[Mapping[str, str]], list[str]]:
    """The Procfile's `web` line with ``app`` in place of the receiver's, for `Stack`."""
    return lambda env: procfile_argv("web", env, swap={RECEIVER_APP: app})


# --- the load -----------------------------------------------------------------------------


def http_request(request: SignedRequest, host: str) -> bytes:
    """The delivery as HTTP/1.1 bytes, keep-alive (HTTP/1.1's default)."""
    head = [f"POST {request.path} HTTP/1.1", f"Host: {host}"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    head.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body


@dataclass
class _Client:
    """One keep-alive connection and the requests it still has to send."""

    requests: Sequence[bytes]
    sock: socket.socket | None = None
    sent: int = 0
    started: float = 0.0
    buffer: bytes = b""


def drive(
    host: str, port: int, batches: Sequence[Sequence[bytes]], deadline_s: float
) -> dict[str, Any]:
    """Send each batch over its own connection, one request after the other, all at once.

    Returns the latency of every answer (seconds), the statuses, the wall time, how often
    the server closed a connection (it is opened again), and the bodies of the 202s.
    """
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    accepted: list[bytes] = []
    reconnects = 0

    def connect(client: _Client) -> None:
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.sock = sock
        selector.register(sock, selectors.EVENT_READ, client)

    def send_next(client: _Client) -> None:
        assert client.sock is not None
        client.started = time.perf_counter()
        client.sock.sendall(client.requests[client.sent])

    clients = [_Client(requests=batch) for batch in batches if batch]
    for client in clients:
        connect(client)
    began = time.perf_counter()
    for client in clients:
        send_next(client)
    running = len(clients)
    while running:
        if time.perf_counter() - began > deadline_s:
            raise TimeoutError(f"the load did not finish within {deadline_s:.0f} s")
        for key, _ in selector.select(timeout=1.0):
            client = key.data
            assert client.sock is not None
            data = client.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed a connection before answering")
            client.buffer += data
            answer = _complete_answer(client.buffer)
            if answer is None:
                continue
            status, close, body, rest = answer
            latencies.append(time.perf_counter() - client.started)
            statuses[status] += 1
            if status == 202:
                accepted.append(body)
            client.buffer = rest
            client.sent += 1
            if close:
                selector.unregister(client.sock)
                client.sock.close()
                client.sock = None
            if client.sent == len(client.requests):
                if client.sock is not None:
                    selector.unregister(client.sock)
                    client.sock.close()
                running -= 1
                continue
            if client.sock is None:
                reconnects += 1
                connect(client)
            send_next(client)
    wall = time.perf_counter() - began
    selector.close()
    return {
        "latencies": latencies,
        "statuses": dict(statuses),
        "wall_s": wall,
        "reconnects": reconnects,
        "accepted": accepted,
    }


def _complete_answer(buffer: bytes) -> tuple[int, bool, bytes, bytes] | None:
    """(status, closes the connection, body, bytes after it), or None until it is whole."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if "content-length" not in fields:
        raise ValueError(f"an answer without Content-Length: {lines[0]}")
    length = int(fields["content-length"])
    if len(buffer) < end + 4 + length:
        return None
    body = buffer[end + 4 : end + 4 + length]
    close = fields.get("connection", "").lower() == "close"
    return status, close, body, buffer[end + 4 + length :]


def _drive_loop(pipe: Connection) -> None:
    """The load process: run each step it is sent, until it is sent None."""
    while (step := pipe.recv()) is not None:
        try:
            pipe.send(drive(*step))
        except Exception as exc:  # reported to the parent, which fails the run
            pipe.send({"error": repr(exc)})


class LoadProcess:
    """`drive` in a process of its own, so the load shares no interpreter lock with the
    benchmark's bookkeeping and its CPU time can be counted apart."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=_drive_loop, args=(child_end,), daemon=True)
        self._process.start()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def run(self, url: str, batches: Sequence[Sequence[bytes]]) -> dict[str, Any]:
        parts = urlsplit(url)
        self._pipe.send((parts.hostname, parts.port, batches, STEP_DEADLINE_SECONDS))
        result: dict[str, Any] = self._pipe.recv()
        if "error" in result:
            raise RuntimeError(f"the load process failed: {result['error']}")
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# --- the run ------------------------------------------------------------------------------


def build_requests(connection: ConnectionRecord, count: int, tag: str) -> list[SignedRequest]:
    return [
        signed_request(
            connection, EVENT, {"post_id": f"crm-{tag}-{i}", "title": f"Benchmark post {i}"}
        )
        for i in range(count)
    ]


def batches_for(
    connection: ConnectionRecord, connections: int, per_connection: int, tag: str, host: str
) -> list[list[bytes]]:
    return [
        [http_request(r, host) for r in build_requests(connection, per_connection, f"{tag}-{i}")]
        for i in range(connections)
    ]


def start_bare(stack: Stack) -> tuple[Child, str]:
    """The bare app under the Procfile's web line, on a port of its own."""
    port = free_port()
    env = {**stack.environment(), "PORT": str(port)}
    child = spawn("bare", web_command(BARE_APP)(env), env, stack.workdir / "bare.log")
    url = f"http://127.0.0.1:{port}"
    probe = f"{url}/webhooks/crm/probe"

    def answers() -> bool:
        return httpx.post(probe, content=b"{}", timeout=2).status_code == 202

    wait_until(answers, child, what="202 from the bare app")
    return child, url


def measure(
    load: LoadProcess,
    url: str,
    batches: list[list[bytes]],
    cpu: Callable[[], dict[str, float]],
) -> dict[str, Any]:
    before = cpu()
    result = load.run(url, batches)
    after = cpu()
    latencies = result["latencies"]
    requests = len(latencies)
    used = cpu_used(before, after)
    return {
        "requests": requests,
        "throughput_rps": requests / result["wall_s"],
        **summary_ms(latencies),
        "web_cpu_ms_per_request": 1000 * used["web"] / requests if requests else float("nan"),
        "cpu_seconds": used,
        "machine_busy_share": sum(used.values()) / (result["wall_s"] * CORES),
        "rest_of_machine_share": used["rest of the machine"] / (result["wall_s"] * CORES),
        **result,
    }


def check_queue_and_store(
    stack: Stack, connection: ConnectionRecord, accepted_bodies: list[bytes]
) -> dict[str, Any]:
    """One task per 202, for the event each 202 named; one event in the store per 202."""
    accepted = [json.loads(body)["event_id"] for body in accepted_bodies]
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        messages = client.lrange(QUEUE, 0, -1)
    finally:
        client.close()
    queued = [event_id_of_task(json.loads(raw)["headers"]["id"]) for raw in messages]
    stored = [
        event.id
        for event in stack.store.list_events(connection_id=connection.id, limit=len(accepted) + 10)
    ]
    return {
        "answers_202": len(accepted),
        "tasks_queued": len(queued),
        "events_stored": len(stored),
        "one_task_per_202": Counter(queued) == Counter(accepted),
        "one_event_per_202": Counter(stored) == Counter(accepted),
    }


# --- the in-process profile ---------------------------------------------------------------


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
    request_time = _cumulative(stats, "flask/app.py", "wsgi_app")
    shares = {
        label: _cumulative(stats, suffix, function) / request_time if request_time else 0.0
        for label, suffix, function in PROFILED
    }
    view = _cumulative(stats, "webapp/webhooks.py", "receive")
    shares["rest of the view (JSON answer, ...)"] = (
        view / request_time - sum(shares.values()) if request_time else 0.0
    )
    shares["Flask and werkzeug around the view"] = 1 - view / request_time if request_time else 0
    rows = [{"part": label, "share_of_request": share} for label, share in shares.items()]
    return {"requests": count, "mean_ms_unprofiled": mean_ms, "breakdown": rows}


def _cumulative(
    stats: dict[tuple[str, int, str], tuple[Any, ...]], suffix: str, name: str
) -> float:
    return sum(
        float(values[3])
        for (filename, _, function), values in stats.items()
        if function == name and filename.replace("\\", "/").endswith(suffix)
    )


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.receiver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns of each app (default 3)")
    parser.add_argument(
        "--requests", type=int, default=500, help="deliveries per connection and turn (500)"
    )
    parser.add_argument(
        "--connections", type=int, default=8, help="concurrent keep-alive clients (default 8)"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="deliveries per connection before measuring (50)"
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
    total = 2 * args.rounds * args.connections * args.requests
    if total > MAX_TOTAL_REQUESTS:
        raise SystemExit(f"at most {MAX_TOTAL_REQUESTS} deliveries in all; lower --requests")
    info = machine()
    print_machine(info)
    load = LoadProcess()
    results: dict[str, Any] = {
        "benchmark": "receiver",
        "machine": info,
        "event": EVENT,
        "connections": args.connections,
        "requests_per_connection": args.requests,
        "rounds": args.rounds,
        "steps": [],
    }
    try:
        with (
            tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
            Stack(Path(tmp), sandboxes=False, web_command=web_command(RECEIVER_APP)) as stack,
        ):
            results["web_command"] = " ".join(web_command(RECEIVER_APP)({"PORT": "$PORT"}))
            print(f"web: {results['web_command']}")
            bare, bare_url = start_bare(stack)
            try:
                ok = run_rounds(args, stack, load, bare, bare_url, results)
                if args.profile_requests > 0:
                    connection = stack.new_connection("profile", "loc_bench", "pit-unused")
                    profile = profile_in_process(stack, connection, args.profile_requests)
                    stack.purge_queue()
                    results["in_process_profile"] = profile
                    print_profile(profile)
            finally:
                bare.stop()
    finally:
        load.close()
    if args.json:
        dump_json(args.json, results)
    return 0 if ok else 1


def run_rounds(
    args: argparse.Namespace,
    stack: Stack,
    load: LoadProcess,
    bare: Child,
    bare_url: str,
    results: dict[str, Any],
) -> bool:
    host = urlsplit(stack.web_url).netloc
    urls = {RECEIVER: stack.web_url, BARE: bare_url}
    web_pids = {RECEIVER: stack.web.pid, BARE: bare.pid}

    def cpu_of(app: str) -> Callable[[], dict[str, float]]:
        def snapshot() -> dict[str, float]:
            parts = stack.cpu_snapshot()
            return {
                "web": tree_cpu_seconds(web_pids[app]),
                "redis": parts["redis"],
                "load process": tree_cpu_seconds(load.pid),
                "machine": parts["machine"],
            }

        return snapshot

    warm = stack.new_connection("warm", "loc_bench", "pit-unused")
    for app in (BARE, RECEIVER):
        load.run(urls[app], batches_for(warm, args.connections, args.warmup, "warm", host))
    stack.purge_queue()

    connection = stack.new_connection("bench", "loc_bench", "pit-unused")
    accepted: list[bytes] = []
    latencies: dict[str, list[float]] = {RECEIVER: [], BARE: []}
    rows = []
    for number in range(1, args.rounds + 1):
        order = (BARE, RECEIVER) if number % 2 else (RECEIVER, BARE)
        for app in order:
            batches = batches_for(
                connection, args.connections, args.requests, f"r{number}-{app[:4]}", host
            )
            step = measure(load, urls[app], batches, cpu_of(app))
            if app == RECEIVER:
                accepted += step["accepted"]
            latencies[app] += step.pop("latencies")
            step.pop("accepted")
            step.update(app=app, round=number)
            results["steps"].append(step)
            rows.append(
                [
                    app,
                    number,
                    step["requests"],
                    step["throughput_rps"],
                    step["p50_ms"],
                    step["p99_ms"],
                    step["max_ms"],
                    step["web_cpu_ms_per_request"],
                    100 * step["machine_busy_share"],
                    100 * step["rest_of_machine_share"],
                    ", ".join(f"{k}: {v}" for k, v in sorted(step["statuses"].items())),
                    step["reconnects"],
                ]
            )
    check = check_queue_and_store(stack, connection, accepted)
    results["check"] = check
    stack.purge_queue()

    print(
        f"\n{args.connections} keep-alive connections, {args.requests} deliveries each per turn, "
        "no worker running:"
    )
    print(
        format_table(
            [
                "app",
                "round",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "web CPU ms/req",
                "machine busy %",
                "rest of machine %",
                "answers",
                "reconnects",
            ],
            rows,
        )
    )
    summary = summarize(results["steps"], latencies)
    results["summary"] = summary
    print("\nAll rounds:")
    print(
        format_table(
            ["app", "requests", "req/s", "p50 ms", "p99 ms", "web CPU ms/req"],
            [
                [
                    app,
                    s["requests"],
                    s["throughput_rps"],
                    s["p50_ms"],
                    s["p99_ms"],
                    s["web_cpu_ms_per_request"],
                ]
                for app, s in summary["apps"].items()
            ],
        )
    )
    print(
        f"\nreceiver / bare Flask: {summary['ratio']:.2f} of the requests per second "
        f"(rounds: {', '.join(f'{r:.2f}' for r in summary['ratio_by_round'])}; "
        f"goal >= {GOAL_RATIO}); receiver p99 {summary['apps'][RECEIVER]['p99_ms']:.1f} ms "
        f"(goal <= {GOAL_P99_MS:.0f} ms)"
    )
    print(
        f"checked: {check['answers_202']} answers 202, {check['tasks_queued']} tasks on the "
        f"queue, {check['events_stored']} events in the store; one task per 202: "
        f"{check['one_task_per_202']}; one event per 202: {check['one_event_per_202']}"
    )
    receiver_steps = [s for s in results["steps"] if s["app"] == RECEIVER]
    all_202 = all(s["statuses"] == {202: s["requests"]} for s in receiver_steps)
    if not all_202:
        print("FAILED: the receiver answered something else than 202")
    return bool(check["one_task_per_202"] and check["one_event_per_202"] and all_202)


def summarize(steps: list[dict[str, Any]], latencies: dict[str, list[float]]) -> dict[str, Any]:
    """Each app over all its turns, and the ratio of requests per second (also by round)."""
    apps: dict[str, Any] = {}
    for app in (RECEIVER, BARE):
        mine = [s for s in steps if s["app"] == app]
        requests = sum(s["requests"] for s in mine)
        wall = sum(s["wall_s"] for s in mine)
        web = sum(s["cpu_seconds"]["web"] for s in mine)
        apps[app] = {
            "requests": requests,
            "throughput_rps": requests / wall,
            **summary_ms(latencies[app]),
            "web_cpu_ms_per_request": 1000 * web / requests,
        }
    by_round: dict[int, dict[str, float]] = {}
    for s in steps:
        by_round.setdefault(s["round"], {})[s["app"]] = s["throughput_rps"]
    return {
        "apps": apps,
        "ratio": apps[RECEIVER]["throughput_rps"] / apps[BARE]["throughput_rps"],
        "ratio_by_round": [r[RECEIVER] / r[BARE] for _, r in sorted(by_round.items())],
    }


def print_profile(profile: dict[str, Any]) -> None:
    print(
        "\nIn process (Flask test client, no HTTP): "
        f"{profile['mean_ms_unprofiled']:.2f} ms per delivery over {profile['requests']}; "
        "share of a request's time under cProfile:"
    )
    print(
        format_table(
            ["part", "% of request"],
            [[row["part"], 100 * row["share_of_request"]] for row in profile["breakdown"]],
        )
    )


if __name__ == "__main__":
    sys.exit(main())
