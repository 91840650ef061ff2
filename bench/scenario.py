"""What the throughput scenarios share: the stack as the Procfile runs it, sending, waiting,
counting, and the table and JSON of the figures against their goals.

    with scenario_stack(workdir, ghl_latency_ms=100) as run:
        connection = run.add_location("one", posts=600)
        requests = [post_published(connection, i) for i in range(n)]
        sent = run.send_all(requests)
        written = run.wait_written_back(sent)
        calls = run.ghl_counts()

The stack: the embedded Redis, a SQLite file, the sandbox GHL (GHL's limit of 100 requests per
10 s per location in force) and the sandbox CRM, each with an injected latency, the Procfile's
`web` line (gunicorn with its settings file) and ONE process of its `worker` line, all in a
temporary folder (`bench.stack.Stack`). Senders keep their connection open (keep-alive), as a
CRM sending a burst does.

"Written back" is the sandbox CRM's `received_at` of the stored write-back of an event (its
webhook-id starts with the event id), the moment the CRM has the data.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.procfile import procfile_argv
from bench.stack import (
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
)
from sandbox.ghl.seed import seed_location, short_name
from store import ConnectionRecord

FINAL = ("done", "dead")
WINDOW_SECONDS = 10.0
"""GHL's rate-limit window: the posts/{id} rate is reported per window of this length."""
DEFAULT_SENDERS = 8
DEFAULT_TIMEOUT = 600.0
POLL_SECONDS = 0.1


# --- figures and goals (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure, its goal, and whether the goal was met (None: no goal)."""

    name: str
    value: float | int | None
    unit: str
    goal: str = ""
    met: bool | None = None


def at_most(name: str, value: float | int | None, limit: float, unit: str) -> Figure:
    """A figure whose goal is `value <= limit` (not met when nothing was measured)."""
    met = value is not None and not _is_nan(value) and value <= limit
    return Figure(name, value, unit, f"<= {limit:g} {unit}".strip(), met)


def at_least(name: str, value: float | int | None, floor: float, unit: str) -> Figure:
    """A figure whose goal is `value >= floor` (not met when nothing was measured)."""
    met = value is not None and not _is_nan(value) and value >= floor
    return Figure(name, value, unit, f">= {floor:g} {unit}".strip(), met)


def _is_nan(value: float | int) -> bool:
    return isinstance(value, float) and math.isnan(value)


def figures_table(figures: Sequence[Figure]) -> str:
    """The figures as a table: measured, goal, met ("yes", "NO", or "-" without a goal)."""
    rows = [
        [
            f.name,
            _measured(f.value, f.unit),
            f.goal or "-",
            "-" if f.met is None else ("yes" if f.met else "NO"),
        ]
        for f in figures
    ]
    return format_table(["figure", "measured", "goal", "met"], rows)


def _measured(value: float | int | None, unit: str) -> str:
    if value is None or _is_nan(value):
        return "-"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def all_goals_met(figures: Sequence[Figure]) -> bool:
    return all(f.met is not False for f in figures)


def result_json(
    scenario: str, info: Mapping[str, Any], settings: Mapping[str, Any], figures: Sequence[Figure],
    details: Mapping[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The JSON a scenario writes: the machine, its settings, its figures and the details."""
    return {
        "benchmark": scenario,
        "machine": dict(info),
        "settings": dict(settings),
        "figures": [asdict(f) for f in figures],
        "all_goals_met": all_goals_met(figures),
        **details,
    }


def rate_windows(times: Sequence[float], window: float = WINDOW_SECONDS) -> list[float]:
    """Calls per second in every whole `window` after the first, from the first call on.

    Windows start at the first call's time `t0`: [t0 + k*window, t0 + (k+1)*window) for
    k = 1, 2, ... The first window is left out (it holds the start-up: the first events'
    intake and the tag listing), and so is a last window the calls end within (a partial
    window's rate says nothing about the steady pace).
    """
    if not times:
        return []
    ordered = sorted(times)
    start, end = ordered[0], ordered[-1]
    whole = math.floor((end - start) / window)
    counts = [0] * whole
    for moment in ordered:
        index = math.floor((moment - start) / window)
        if index < whole:
            counts[index] += 1
    return [count / window for count in counts[1:]]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/max of durations in seconds, in seconds."""
    return {
        "p50_s": percentile(seconds, 50),
        "p99_s": percentile(seconds, 99),
        "max_s": max(seconds) if seconds else math.nan,
    }


# --- events ---------------------------------------------------------------------------------


def post_published(
    connection: ConnectionRecord, serial: int, *, ghl_post_id: str | None = None
) -> SignedRequest:
    data: dict[str, Any] = {"post_id": f"crm-post-{serial}", "title": f"Benchmark post {serial}"}
    if ghl_post_id is not None:
        data["ghl_post_id"] = ghl_post_id
    return signed_request(connection, "post.published", data)


def tag_details_requested(connection: ConnectionRecord, serial: int) -> SignedRequest:
    """Three tag ids the location has (one POST .../tags/details)."""
    tags = seed_location(connection.location_id, seed=0).tags[:3]
    return signed_request(
        connection,
        "tag.details_requested",
        {"post_id": f"crm-post-{serial}", "tag_ids": [tag.id for tag in tags]},
    )


def statistics_requested(connection: ConnectionRecord) -> SignedRequest:
    return signed_request(connection, "statistics.requested", {})


def seeded_post_id(location_id: str, number: int) -> str:
    """The id of the sandbox's `number`-th seeded post of a location (1-based)."""
    return f"post_{short_name(location_id)}_{number}"


# --- the running stack ----------------------------------------------------------------------


@dataclass
class Sent:
    event_id: str
    accepted_at: float  # time.time() when the 202 was read


@dataclass
class WrittenBack:
    """What became of the events sent: when each was written back, and what did not."""

    written_at: dict[str, float]  # event id -> the CRM's received_at
    dead: int
    unfinished: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.unfinished == 0 and self.dead == 0


@dataclass
class Measurement:
    """One burst: sent from `began` (time.time()), its 202s, what was written back, and the
    CPU each part used from the first send until the last event was final."""

    began: float
    intake_s: float
    sent: list[Sent]
    written: WrittenBack
    cpu_before: dict[str, float]
    cpu_after: dict[str, float]

    @property
    def wall_s(self) -> float | None:
        """First send -> the last write-back stored; None unless every event was written back."""
        if not self.written.complete or len(self.written.written_at) < len(self.sent):
            return None
        return max(self.written.written_at.values()) - self.began

    def to_writeback(self) -> list[float]:
        """Seconds from each event's 202 to its write-back stored in the CRM."""
        return [
            self.written.written_at[s.event_id] - s.accepted_at
            for s in self.sent
            if s.event_id in self.written.written_at
        ]

    def cpu_table(self) -> str:
        """CPU seconds of each part and its share of the machine; "rest of the machine" shows
        what else ran (other programs on a shared machine)."""
        wall = self.wall_s or (time.time() - self.began)
        return cpu_table(self.cpu_before, self.cpu_after, wall)

    def details(self) -> dict[str, Any]:
        return {
            "events": len(self.sent),
            "wall_s": self.wall_s,
            "intake_s": self.intake_s,
            "written_back": len(self.written.written_at),
            "dead": self.written.dead,
            "unfinished": self.written.unfinished,
            "statuses": self.written.statuses,
            "accept_to_writeback": latency_summary(self.to_writeback()),
            "cpu_seconds": cpu_used(self.cpu_before, self.cpu_after),
        }


class ScenarioRun:
    """The stack of one scenario run, and the moves of a measurement."""

    def __init__(self, stack: Stack, commands: Mapping[str, Sequence[str]]) -> None:
        self.stack = stack
        self.commands = {name: list(argv) for name, argv in commands.items()}
        """The argv of each process the Procfile's lines started (`web`, `worker`)."""
        self.http = httpx.Client(timeout=30)
        parts = urlsplit(stack.web_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def add_location(self, name: str, *, posts: int | None = None) -> ConnectionRecord:
        """A seeded GHL location `loc_{name}` and its connection (with its CRM account)."""
        location, token = f"loc_{name}", f"pit-{name}"
        self.stack.add_ghl_location(location, token, posts=posts)
        return self.stack.new_connection(name, location, token)

    def measure(
        self, requests: Sequence[SignedRequest], *, senders: int, timeout: float
    ) -> Measurement:
        """Send the burst, wait until every event is written back, note the CPU used."""
        cpu_before = self.stack.cpu_snapshot()
        began = time.time()
        sent = self.send_all(requests, senders)
        intake_s = time.time() - began
        written = self.wait_written_back(sent, timeout=timeout)
        cpu_after = self.stack.cpu_snapshot()
        return Measurement(began, intake_s, sent, written, cpu_before, cpu_after)

    def send_all(
        self, requests: Sequence[SignedRequest], senders: int = DEFAULT_SENDERS
    ) -> list[Sent]:
        """Send every request, `senders` threads each on one kept-alive connection."""
        batches: list[list[Sent]] = [[] for _ in range(senders)]
        errors: list[BaseException] = []

        def sender(index: int) -> None:
            connection = _Connection(self.host, self.port)
            try:
                batches[index].extend(connection.send(r) for r in requests[index::senders])
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sorted((s for batch in batches for s in batch), key=lambda s: s.accepted_at)

    def wait_written_back(
        self, sent: Sequence[Sent], *, timeout: float = DEFAULT_TIMEOUT
    ) -> WrittenBack:
        """Wait until every event sent is done or dead (at most `timeout` s), then read when
        the CRM stored each write-back."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.stack.store.count_events_by_status()
            final = sum(counts.get(status, 0) for status in FINAL)
            if final >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        wanted = {s.event_id for s in sent}
        written: dict[str, float] = {}
        for delivery in self.crm_deliveries():
            event_id = str(delivery.get("webhook_id", "")).split(".")[0]
            if delivery.get("outcome") == "stored" and event_id in wanted:
                written.setdefault(event_id, _timestamp(delivery["received_at"]))
        return WrittenBack(
            written_at=written,
            dead=counts.get("dead", 0),
            unfinished=len(sent) - final,
            statuses={k: v for k, v in counts.items() if v},
        )

    def ghl_counts(self) -> dict[str, Any]:
        """The sandbox GHL's call counts by endpoint and status since it started."""
        counts: dict[str, Any] = self.http.get(
            f"{self.stack.ghl_url}/_sandbox/journal/counts"
        ).json()
        return counts

    def ghl_call_times(self, path_contains: str) -> list[float]:
        """When the sandbox GHL answered each journaled call whose path contains the text,
        2xx answers only (a 429 moves nothing forward)."""
        entries = self.http.get(
            f"{self.stack.ghl_url}/_sandbox/journal", params={"path_contains": path_contains}
        ).json()
        return [
            _timestamp(entry["time"]) for entry in entries if 200 <= entry["response_status"] < 300
        ]

    def crm_deliveries(self) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self.http.get(
            f"{self.stack.crm_url}/_sandbox/deliveries"
        ).json()
        return deliveries

    def close(self) -> None:
        self.http.close()


class _Connection:
    """One kept-alive HTTP connection to the web process, opened again if the server closed it
    (gunicorn closes one idle for its keep-alive time). A webhook sent again is harmless: the
    receiver answers a known webhook-id with the same event."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._http: http.client.HTTPConnection | None = None

    def send(self, request: SignedRequest) -> Sent:
        for attempt in range(2):
            if self._http is None:
                self._http = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self._http.request("POST", request.path, body=request.body, headers=request.headers)
                response = self._http.getresponse()
                body = response.read()
                accepted_at = time.time()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.close()
                if attempt:
                    raise
                continue
            if response.status != 202:
                raise RuntimeError(f"webhook answered {response.status}: {body[:300]!r}")
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return Sent(json.loads(body)["event_id"], accepted_at)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@contextlib.contextmanager
def scenario_stack(
    workdir: Path, *, ghl_latency_ms: int, crm_latency_ms: int = 0
) -> Iterator[ScenarioRun]:
    """The stack as the Procfile runs it (one web, one worker), sandboxes with latency."""

    commands: dict[str, list[str]] = {}

    def web(env: Mapping[str, str]) -> list[str]:
        commands["web"] = procfile_argv("web", env)
        return commands["web"]

    with Stack(
        workdir,
        sandboxes=True,
        web_command=web,
        ghl_latency_ms=ghl_latency_ms,
        crm_latency_ms=crm_latency_ms,
    ) as stack:
        commands["worker"] = procfile_argv("worker", stack.environment())
        stack.start_worker_argv(commands["worker"])
        run = ScenarioRun(stack, commands)
        try:
            yield run
        finally:
            run.close()


# --- the command line -----------------------------------------------------------------------


def parser_for(module: str, doc: str, *, events: int) -> argparse.ArgumentParser:
    """The options every scenario takes: --events, --json, --senders, --timeout."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{module}", description=doc)
    parser.add_argument(
        "--events", type=_positive, default=events, help=f"events to send (default {events})"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON (- for stdout)"
    )
    parser.add_argument(
        "--senders", type=int, default=DEFAULT_SENDERS,
        help=f"threads sending, each on one kept-alive connection (default {DEFAULT_SENDERS})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for every event to be written back (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    return parser


def outcome_figures(measurement: Measurement) -> list[Figure]:
    """Written back and dead: every scenario shows them, a missing write-back is visible."""
    sent = len(measurement.sent)
    return [
        Figure("written back", len(measurement.written.written_at), f"of {sent:,}"),
        Figure("dead", measurement.written.dead, ""),
    ]


def commands_of(run: ScenarioRun) -> dict[str, str]:
    """The web and worker command lines, the program by its name only (for the JSON)."""
    return {name: " ".join([Path(argv[0]).name, *argv[1:]]) for name, argv in run.commands.items()}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def start(title: str) -> dict[str, Any]:
    """Print what the scenario is and the machine; return the machine's description."""
    info = machine()
    print(title)
    print_machine(info)
    return info


def finish(
    scenario: str,
    info: Mapping[str, Any],
    settings: Mapping[str, Any],
    figures: Sequence[Figure],
    details: Mapping[str, Any],
    json_path: str | None,
    *,
    cpu: str | None = None,
    print_line: Callable[[str], None] = print,
) -> int:
    """Print the table, write the JSON if asked; 0 (a missed goal is a result, not a failure)."""
    if cpu is not None:
        print_line(cpu)
    print_line(figures_table(figures))
    print_line("all goals met" if all_goals_met(figures) else "some goals NOT met")
    if json_path:
        dump_json(json_path, result_json(scenario, info, settings, figures, details))
    return 0
