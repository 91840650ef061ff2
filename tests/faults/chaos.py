"""`make chaos`: events flow while processes are killed and outside systems fail.

    .venv/bin/python -m tests.faults.chaos [--events 300] [--duration 60] [--database all]

Starts every part as `make run` does, in a temporary folder: the embedded Redis (AOF), the
sandbox GHL and sandbox CRM (which keeps what it stored on disk), the web app under gunicorn,
one `celery -A workers worker` (prefork, concurrency 2) and beat, with RETRY_BACKOFF_MAX=30
and every other setting at its default. It then sends ``--events`` signed events of the
three types over ``--duration`` seconds, spread over ``--connections`` connections (one GHL
location each), and meanwhile carries out `tests.faults.plan.fault_plan`: pool processes
SIGKILLed every ~5 s, the worker SIGKILLed once and started again, Redis SIGKILLed and started
again on its AOF, GHL answering 500 about once a second and a burst of 429s, and the CRM
SIGKILLed and started again 30 s later. Each fault happens when the plan says: starting a
process again never holds up the schedule (`tests.faults.keeper`). A worker, beat or CRM that
exits on its own is started again in the background after 1, 2, 4 … s, as systemd or a
Procfile manager would, and reported; the run fails if one is not running at the end.

Like a CRM, the sender sends an event again (same webhook-id) when it gets no answer or a 5xx,
up to four times. Then it asserts, for the run as a whole:

- every accepted event (202, or 200 "duplicate" to a resend) is `done` or `dead` within
  ``--terminal-within`` (120) seconds of the last fault;
- no event was written back under two webhook-ids (per event and replay);
- every `done` event's write-back is stored at the CRM;

prints its figures (events, faults of each kind, lost, duplicates, time from the last fault to
all terminal, statuses) and exits 1 with a report of what broke. It runs once on SQLite and,
when TEST_DATABASE_URL is set, once on PostgreSQL (a schema of its own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks import Webhook

from bench.stack import dump_json, format_table, machine, print_machine, worker_ready
from store import ConnectionRecord, EventRecord
from tests.dbutil import database_kinds, temporary_database
from tests.faults import plan as plans
from tests.faults.cmdline import keep_logs, seconds, whole_number
from tests.faults.keeper import Keeper, last_error_lines
from tests.faults.logscan import LogSummary, format_summary, scan_log, where
from tests.faults.stack import FaultStack, beat_ready
from tests.faults.verdict import chaos_verdict, event_line
from tests.functional.harness import FINAL, System, Worker

SETTINGS = {"retry_backoff_max": 30}
"""The one setting the issue allows the chaos run to change."""
SEND_TRIES = 4
RESEND_AFTER_SECONDS = 3.0
SEND_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 2.0
TICK_SECONDS = 0.2
"""How often the processes are looked at (exits, restarts) while waiting."""
REPORT_LINES = 40


# --- sending ---------------------------------------------------------------------------------


@dataclass
class Sent:
    """One planned event and what the receiver answered to each try."""

    planned: plans.PlannedEvent
    webhook_id: str
    body: bytes
    answers: list[str] = field(default_factory=list)
    event_id: str | None = None


class Sender(threading.Thread):
    """Sends the planned events on time, each again (same webhook-id) after a 5xx or no answer."""

    def __init__(
        self, web_url: str, connections: Sequence[ConnectionRecord], events: Sequence[Sent]
    ) -> None:
        super().__init__(name="chaos-sender", daemon=True)
        self.web_url = web_url
        self.connections = connections
        self.events = events
        self.started_at = 0.0
        self.started_wall = 0.0
        self.deadline = 0.0
        self.finished_at: float | None = None

    def start_at(self, started_at: float, deadline: float) -> None:
        self.started_at, self.deadline = started_at, deadline
        self.start()

    def run(self) -> None:
        due = [(sent.planned.at, index, 1) for index, sent in enumerate(self.events)]
        heapq.heapify(due)
        with httpx.Client(timeout=SEND_TIMEOUT_SECONDS) as client:
            while due and time.monotonic() < self.deadline:
                at, index, attempt = heapq.heappop(due)
                time.sleep(max(0.0, self.started_at + at - time.monotonic()))
                sent = self.events[index]
                answer = self._send(client, sent)
                sent.answers.append(answer)
                if sent.event_id is None and attempt < SEND_TRIES and _resend(answer):
                    later = time.monotonic() - self.started_at + RESEND_AFTER_SECONDS
                    heapq.heappush(due, (later, index, attempt + 1))
        self.finished_at = time.monotonic()

    def _send(self, client: httpx.Client, sent: Sent) -> str:
        connection = self.connections[sent.planned.connection]
        now = time.time()
        signature = Webhook(connection.webhook_secrets[0]).sign(
            sent.webhook_id, _utc(now), sent.body.decode()
        )
        try:
            response = client.post(
                f"{self.web_url}/webhooks/crm/{connection.id}",
                content=sent.body,
                headers={
                    "content-type": "application/json",
                    "webhook-id": sent.webhook_id,
                    "webhook-timestamp": str(int(now)),
                    "webhook-signature": signature,
                },
            )
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        if response.status_code in (200, 202):
            sent.event_id = response.json().get("event_id")
        return str(response.status_code)


def _resend(answer: str) -> bool:
    return answer.startswith("no answer") or answer.startswith("5")


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Faults:
    """What was done to the system, counted, and how closely the plan was kept."""

    counts: Counter[str] = field(default_factory=Counter)
    redis_down_for: float | None = None
    last_at: float = 0.0
    last_at_wall: float = 0.0
    """The same moment on the clock the store's timestamps use."""
    latest: float = 0.0
    """The most any action began after its planned time, in seconds."""
    problems: list[str] = field(default_factory=list)


class ChaosRun:
    """One run on one database: start, send and break, wait, judge."""

    def __init__(self, kind: str, args: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.faults = Faults()
        self.keeper = Keeper()
        self.redis_killed_at = 0.0
        self.web_exited = False
        self.started_at = 0.0
        self.started_wall = 0.0

    def run(self) -> dict[str, Any]:
        with temporary_database(self.kind, self.workdir) as (database_url, engine_options):
            stack = FaultStack(
                self.workdir,
                database_url=database_url,
                engine_options=engine_options,
                settings_overrides=dict(SETTINGS),
            )
            with stack:
                return self._run(stack)

    def _run(self, stack: FaultStack) -> dict[str, Any]:
        args = self.args
        worker, beat = stack.start_worker(concurrency=2), stack.start_beat()
        assert stack.crm is not None
        self.keeper.add(
            "worker",
            spawn=lambda: stack.spawn_worker(concurrency=2),
            ready=worker_ready,
            child=worker,
        )
        self.keeper.add("beat", spawn=stack.spawn_beat, ready=beat_ready, child=beat)
        self.keeper.add(
            "crm", spawn=stack.spawn_crm, ready=lambda _child: stack.crm_ready(), child=stack.crm
        )
        system = System(
            settings=stack.settings,
            store=stack.store,
            web_url=stack.web_url,
            ghl_url=stack.ghl_url,
            crm_url=stack.crm_url,
            worker=Worker(stack.settings, stack.workdir / "worker1.log"),
        )
        connections = []
        for number in range(args.connections):
            location = plans.location_id(number)
            token = f"pit-chaos-{number}"
            stack.add_ghl_location(location, token)
            connections.append(stack.new_connection(f"chaos-{number}", location, token))
        events = [
            Sent(planned, f"msg_chaos_{args.seed}_{index}", _event_body(planned))
            for index, planned in enumerate(
                plans.event_plan(
                    args.events, args.duration, connections=args.connections, seed=args.seed
                )
            )
        ]
        actions = plans.fault_plan(args.duration, seed=args.seed)
        print(
            f"  {len(events)} events over {args.duration:g} s on {len(connections)} connections, "
            f"{len(actions)} fault actions; logs in {stack.workdir}",
            flush=True,
        )

        sender = Sender(stack.web_url, connections, events)
        self.started_at, self.started_wall = time.monotonic(), time.time()
        sender.start_at(self.started_at, self.started_at + args.duration + 60)
        for action in actions:
            self._wait_until(self.started_at + action.at, stack)
            late = time.monotonic() - (self.started_at + action.at)
            self.faults.latest = max(self.faults.latest, late)
            self._carry_out(action, stack, system)
        join_by = sender.deadline + SEND_TIMEOUT_SECONDS
        while sender.is_alive() and time.monotonic() < join_by:
            self._supervise(stack)  # a process may still exit while the last events go out
            sender.join(timeout=TICK_SECONDS)
        if sender.is_alive():
            self.faults.problems.append("the sender did not finish before its deadline")

        accepted = {sent.event_id for sent in events if sent.event_id is not None}
        terminal_deadline = self.faults.last_at + args.terminal_within
        all_terminal_at = self._wait_terminal(stack, accepted, terminal_deadline)
        return self._figures(stack, system, events, accepted, all_terminal_at)

    # -- faults -------------------------------------------------------------------------------

    def _wait_until(self, moment: float, stack: FaultStack) -> None:
        while True:
            self._supervise(stack)
            left = moment - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(TICK_SECONDS, left))

    def _carry_out(self, action: plans.Action, stack: FaultStack, system: System) -> None:
        kind = action.kind
        try:
            if kind == plans.KILL_POOL_PROCESS:
                # Only a worker that is up has pool processes with tasks to lose.
                if not self.keeper.running("worker") or stack.kill_pool_process(self.rng) is None:
                    return
            elif kind == plans.KILL_WORKER:
                self.keeper.stop("worker")
                stack.kill_worker()
            elif kind == plans.START_WORKER:
                self.keeper.start("worker")  # ready a few seconds later; the plan goes on
            elif kind == plans.KILL_CRM:
                self.keeper.stop("crm")
                stack.kill_crm()
            elif kind == plans.START_CRM:
                self.keeper.start("crm")
            elif kind == plans.KILL_REDIS:
                self.redis_killed_at = time.monotonic()
                stack.kill_redis()
            elif kind == plans.START_REDIS:
                stack.start_redis()  # back once it answers PING: a fraction of a second
                self.faults.redis_down_for = round(time.monotonic() - self.redis_killed_at, 1)
            elif kind == plans.GHL_500:
                pending = system.http.get(f"{system.ghl_url}/_sandbox/faults").json()["faults"]
                if any(fault["status"] == 500 for fault in pending):
                    return  # the last one is not used yet: the GHL traffic is low
                system.ghl_fault(path_contains="/social-media-posting/", status=500)
            elif kind == plans.GHL_429_BURST:
                system.ghl_fault(
                    path_contains="/social-media-posting/",
                    status=429,
                    times=plans.GHL_429_BURST_SIZE,
                    retry_after=plans.GHL_429_RETRY_AFTER_SECONDS,
                )
            elif kind == plans.END_FAULTS:
                left = system.http.delete(f"{system.ghl_url}/_sandbox/faults").json()["cleared"]
                self.faults.counts["GHL faults left unused (cleared)"] += left
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            self.faults.problems.append(f"{kind} at +{action.at:g} s failed: {exc}")
            return
        if kind != plans.END_FAULTS:
            self.faults.counts[kind] += 1
        self.faults.last_at, self.faults.last_at_wall = time.monotonic(), time.time()

    def _supervise(self, stack: FaultStack) -> None:
        """Look at the processes once, and start again those that exited (never waits)."""
        self.keeper.tick()
        if not self.web_exited and stack.web.process.poll() is not None:
            self.web_exited = True
            self.faults.problems.append(f"the web process exited: {last_error_lines(stack.web)}")

    # -- waiting and judging ------------------------------------------------------------------

    def _wait_terminal(
        self, stack: FaultStack, accepted: set[str], deadline: float
    ) -> float | None:
        """When every accepted event was done or dead, or None if not by ``deadline``."""
        while True:
            self._supervise(stack)
            try:
                events = {event.id: event for event in _all_events(stack)}
            except SQLAlchemyError as exc:  # a locked SQLite file, say: try again
                self.faults.problems.append(f"reading the store: {exc!r}")
                events = {}
            if (
                events
                and all(events[i].status in FINAL for i in accepted if i in events)
                and accepted <= set(events)
            ):
                return time.monotonic()
            if time.monotonic() >= deadline:
                return None
            self._wait_until(min(deadline, time.monotonic() + POLL_SECONDS), stack)

    def _figures(
        self,
        stack: FaultStack,
        system: System,
        events: Sequence[Sent],
        accepted: set[str],
        all_terminal_at: float | None,
    ) -> dict[str, Any]:
        stored = _all_events(stack)
        try:
            deliveries = system.crm_deliveries()
            journal = system.ghl_journal()
        except httpx.HTTPError as exc:  # a sandbox that did not come back: judged without it
            self.faults.problems.append(f"reading the sandboxes' logs: {exc!r}")
            deliveries, journal = [], []
        verdict = chaos_verdict(accepted, stored, deliveries)
        logs = LogSummary()
        for path in sorted(stack.workdir.glob("*.log")):
            if path.name.startswith(("worker", "beat")):
                logs.merge(scan_log(path.read_text(errors="replace")))
        answers = Counter(answer for sent in events for answer in sent.answers)
        ghl_statuses = Counter(entry["response_status"] for entry in journal)
        failures = list(verdict.failures) + self.faults.problems + self.keeper.problems
        failures += [f"not running at the end: {role}" for role in self.keeper.not_running()]
        if stack.web.process.poll() is not None and not self.web_exited:
            failures.append("not running at the end: web")
        if not stack.redis.running:
            failures.append("not running at the end: redis")
        if all_terminal_at is None:
            failures.append(
                f"accepted events still not terminal {self.args.terminal_within:g} s "
                "after the last fault"
            )
        return {
            "database": self.kind,
            "passed": not failures,
            "failures": failures,
            "events": {
                "planned": len(events),
                "accepted": len(accepted),
                "never_accepted": sum(1 for sent in events if sent.event_id is None),
                "resends": sum(len(sent.answers) - 1 for sent in events),
                "answers": dict(sorted(answers.items())),
                "in_store": len(stored),
            },
            "faults": dict(self.faults.counts),
            "downtime_s": {**self.keeper.downtime, "redis": self.faults.redis_down_for},
            "latest_action_s": round(self.faults.latest, 2),
            "ghl": {
                "requests": len(journal),
                "answers": {str(k): v for k, v in sorted(ghl_statuses.items())},
            },
            "unexpected_exits": [
                {
                    "role": e.role,
                    "code": e.code,
                    "at_s": round(e.at - (self.started_at - self.keeper.began), 1),
                    "log": e.last_lines,
                }
                for e in self.keeper.exits
            ],
            "last_fault_s": round(self.faults.last_at - self.started_at, 1),
            "terminal_after_last_fault_s": (
                None
                if all_terminal_at is None
                else self._terminal_after_last_fault(stored, accepted, all_terminal_at)
            ),
            "last_to_finish": self._last_to_finish(stored, accepted),
            "statuses": dict(sorted(verdict.statuses.items())),
            "lost": verdict.lost,
            "written_under_two_ids": len(verdict.written_twice),
            "crm": {
                "stored": verdict.stored_writebacks,
                "duplicate_answers": verdict.duplicate_answers,
                "not_from_an_event": len(verdict.foreign_writebacks),
            },
            "details": {
                "not_terminal": verdict.not_terminal,
                "accepted_not_in_store": verdict.accepted_not_in_store,
                "missing_writebacks": verdict.missing_writebacks,
                "written_twice": verdict.written_twice,
                "dead": verdict.dead,
            },
            "logs": {
                "crash_lines": len(logs.crashes),
                "summary": format_summary(logs),
            },
        }

    def _terminal_after_last_fault(
        self, stored: Sequence[EventRecord], accepted: set[str], seen_at: float
    ) -> float:
        """Seconds from the last fault to the last accepted event's end, by the store's
        ``finished_at`` (the polling that saw it is up to POLL_SECONDS later)."""
        finished = [e.finished_at for e in stored if e.id in accepted and e.finished_at]
        if len(finished) < len(accepted):
            return round(max(0.0, seen_at - self.faults.last_at), 1)
        last = max(_epoch(moment) for moment in finished)
        return round(max(0.0, last - self.faults.last_at_wall), 1)

    def _last_to_finish(self, stored: Sequence[EventRecord], accepted: set[str]) -> str:
        """The accepted event that ended last, and when it was created and ended."""
        finished = [e for e in stored if e.id in accepted and e.finished_at]
        if not finished:
            return "-"
        last = max(finished, key=lambda e: _epoch(e.finished_at))
        created = _epoch(last.created_at) - self.started_wall
        ended = _epoch(last.finished_at) - self.started_wall
        return f"{event_line(last)} (created +{created:.1f} s, ended +{ended:.1f} s)"


def _epoch(moment: dt.datetime | None) -> float:
    # The store gives UTC; a naive value (SQLite without zone) is UTC too.
    if moment is None:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _all_events(stack: FaultStack) -> list[EventRecord]:
    return stack.store.list_events(limit=1_000_000)


def _event_body(planned: plans.PlannedEvent) -> bytes:
    body = {"type": planned.type, "timestamp": _utc(time.time()).isoformat(), "data": planned.data}
    return json.dumps(body).encode()


# --- the report ------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    """The figures of one run, then what broke if anything did."""
    events, ghl = result["events"], result["ghl"]
    faults = dict(result["faults"])
    injected_500 = faults.get(plans.GHL_500, 0)
    answered_500 = int(ghl["answers"].get("500", 0))
    rows = [
        ["events sent", events["planned"]],
        ["  accepted (202, or 200 duplicate to a resend)", events["accepted"]],
        ["  never accepted", events["never_accepted"]],
        ["  resends", events["resends"]],
        ["  answers", _counts(events["answers"])],
        ["pool processes SIGKILLed", faults.get(plans.KILL_POOL_PROCESS, 0)],
        ["worker SIGKILLed, started again (down s)", _down(result, plans.KILL_WORKER, "worker")],
        ["Redis SIGKILLed, started on its AOF (down s)", _down(result, plans.KILL_REDIS, "redis")],
        ["CRM SIGKILLed, started again (down s)", _down(result, plans.KILL_CRM, "crm")],
        ["GHL 500s injected / answered", f"{injected_500} / {answered_500} of "
         f"{ghl['requests']} GHL requests ({_share(answered_500, ghl['requests'])})"],
        ["GHL 429 burst (answers 429 in all)", f"{faults.get(plans.GHL_429_BURST, 0)} x "
         f"{plans.GHL_429_BURST_SIZE} ({ghl['answers'].get('429', 0)})"],
        ["fault actions: the latest began after its time by (s)", result["latest_action_s"]],
        ["unexpected exits (started again)", _exits(result["unexpected_exits"])],
        ["last fault at (s after the first event)", result["last_fault_s"]],
        ["all accepted terminal, s after the last fault",
         result["terminal_after_last_fault_s"] or "not reached"],
        ["statuses at the end", _counts(result["statuses"])],
        ["lost", result["lost"]],
        ["written back under two ids", result["written_under_two_ids"]],
        ["CRM: stored / answered duplicate", f"{result['crm']['stored']} / "
         f"{result['crm']['duplicate_answers']}"],
        ["crash lines in worker/beat logs", result["logs"]["crash_lines"]],
    ]  # fmt: skip
    print(format_table(["chaos run on " + result["database"], "figure"], rows))
    print(f"  the accepted event that ended last: {result['last_to_finish']}")
    if result["logs"]["summary"]:
        print("  worker and beat logs, errors by kind:")
        for line in result["logs"]["summary"]:
            print("  " + line)
    for exit_ in result["unexpected_exits"]:
        code = exit_["code"]
        how = "could not be started" if code is None else f"exited with code {code}"
        print(f"  {exit_['role']} {how} at +{exit_['at_s']} s:")
        print("    " + exit_["log"].replace("\n", "\n    "))
    if result["passed"]:
        print(f"CHAOS RUN PASSED on {result['database']}")
        return
    print(f"CHAOS RUN FAILED on {result['database']}:")
    for failure in result["failures"]:
        print(f"  - {failure}")
    for title, items in result["details"].items():
        if not items or title == "dead":
            continue
        listed = [f"{k}: {v}" for k, v in items.items()] if isinstance(items, dict) else items
        print(f"  {title} ({len(listed)}):")
        for line in listed[:REPORT_LINES]:
            print(f"    {line}")
        if len(listed) > REPORT_LINES:
            print(f"    … and {len(listed) - REPORT_LINES} more")
    if result["details"]["dead"]:
        print(f"  dead events ({len(result['details']['dead'])}), for the record:")
        for line in result["details"]["dead"][:REPORT_LINES]:
            print(f"    {line}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "-"


def _down(result: dict[str, Any], kill: str, role: str) -> str:
    down = result["downtime_s"].get(role)
    return f"{result['faults'].get(kill, 0)} ({'-' if down is None else down})"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _exits(exits: list[dict[str, Any]]) -> str:
    counts = Counter(e["role"] for e in exits)
    return ", ".join(f"{role} {count}" for role, count in counts.items()) or "none"


# --- the command line ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.chaos",
        description="Send events while killing processes and failing outside systems; "
        "assert nothing is lost, stuck or written twice.",
    )
    parser.add_argument("--events", type=whole_number, default=300, help="events to send")
    parser.add_argument(
        "--duration", type=seconds, default=60.0, help="seconds to send them over (≥20)"
    )
    parser.add_argument(
        "--connections", type=whole_number, default=4, help="connections (GHL locations)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the plan (default 1)")
    parser.add_argument(
        "--terminal-within",
        type=seconds,
        default=120.0,
        help="seconds after the last fault by which every accepted event must be done or dead",
    )
    parser.add_argument(
        "--database",
        choices=["all", "sqlite", "postgresql"],
        default="all",
        help="all: SQLite, and PostgreSQL when TEST_DATABASE_URL is set (default)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (- stdout)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder with the logs"
    )
    args = parser.parse_args(argv)
    if args.duration < 20:
        parser.error("--duration: at least 20 seconds, to fit the faults")
    if args.database == "postgresql" and "postgresql" not in database_kinds():
        parser.error("--database postgresql: set TEST_DATABASE_URL first")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = database_kinds() if args.database == "all" else [args.database]
    info = machine()
    print_machine(info)
    results = []
    for kind in kinds:
        print(f"chaos run on {kind} (seed {args.seed}, RETRY_BACKOFF_MAX=30) …", flush=True)
        began = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"socialbridge-chaos-{kind}-") as tmp:
            workdir = Path(tmp)
            try:
                result = ChaosRun(kind, args, workdir).run()
            except Exception as exc:  # a part that would not start: a failed run, said why
                result = {"database": kind, "passed": False, "failures": [where(exc)]}
            result["wall_s"] = round(time.monotonic() - began, 1)
            if args.keep:
                print(f"  logs kept in {keep_logs(workdir, f'socialbridge-chaos-{kind}-kept-')}")
        if "events" in result:
            print_report(result)
        else:
            print(f"CHAOS RUN FAILED on {kind}: {result['failures']}")
        print(f"  ({result['wall_s']} s)", flush=True)
        results.append(result)
    if args.json:
        dump_json(args.json, {"machine": info, "runs": results})
    return 0 if all(result["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
