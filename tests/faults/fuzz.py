"""`make fuzz`: thousands of hostile requests at the real receiver, with a real worker behind it.

    .venv/bin/python -m tests.faults.fuzz [--requests 3000] [--token-requests 1500]
                                          [--ghl-requests 1000] [--seed 1]

Starts every part as `make run` does, in a temporary folder (the web app under gunicorn, as
the Procfile runs it; one `celery -A workers worker`, prefork, concurrency 2; beat; Redis; the
sandboxes; SQLite), with RETRY_BACKOFF_MAX=30 so that a retried event ends within the run.
It then sends requests made by `tests.faults.fuzzcases` and `tests.faults.fuzzcases_token`
from ``--seed`` (the same seed, the same requests), one at a time over plain sockets:
``--requests`` to ``--connections`` signature-authenticated connections that take our own
event format, and, spread among them, ``--token-requests`` to ``--token-connections``
token-authenticated connections whose mapping reads the CRM's own body (every other one
without a delivery id, so that repeats are known by the body). Every connection writes back
to the sandbox CRM. Spread among them too, ``--ghl-requests`` made by
`tests.faults.fuzzcases_ghl` go to the endpoints GHL and its users reach: GHL's app webhooks
(`POST /webhooks/ghl`, signed with the sandbox GHL's key, which the web app is given) and the
install (`/oauth/ghl/start` and `/oauth/ghl/callback`, with the sandbox's marketplace app
configured, OAuth connections made for them, and codes the sandbox really issues). Then it
asserts:

- no answer is a 5xx, except those the endpoint documents (the install's 502 and 503; the
  app webhooks' "try again" is a 429), and every request gets an answer (each failure is
  printed with its request);
- no answer holds a token: none of the sandbox GHL's token or code forms, none of the tokens
  stored at the end, not the client secret or SECRET_KEY;
- the worker, beat and web processes are still alive, no gunicorn worker of the web process was
  lost and started again, and the worker's and beat's logs show no crash (a pool process or
  the worker dying, an unrecoverable error, a traceback);
- every accepted event is `done` or `dead`, and every app webhook accepted is processed,
  within ``--terminal-within`` seconds of the last request, and no event ended in an
  "unexpected error".

It prints the answers by status (for each kind of connection) and by category, the request
count, and (for the people fixing the receiver, not asserted) every kind of request whose answer
differs from the contract.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.stack import dump_json, format_table, machine, print_machine
from sandbox.ghl import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
)
from sandbox.ghl.oauth import SANDBOX_COMPANY_ID
from sandbox.ghl.seed import seed_location
from socialbridge.urls import oauth_redirect_uri
from store import ConnectionRecord, EventRecord
from tests.faults.cmdline import keep_logs, seconds, whole_number
from tests.faults.fuzzcases import (
    FuzzCase,
    FuzzTarget,
    answer_matches,
    build_request,
    generate_cases,
    interleave,
)
from tests.faults.fuzzcases_ghl import (
    APP_WEBHOOK,
    ENDPOINTS,
    GhlCase,
    GhlSide,
    GhlTargets,
    generate_ghl_cases,
    http_authorizer,
    send_ghl_case,
    spread,
    tokens_in,
)
from tests.faults.fuzzcases_token import generate_token_cases, mapping_text
from tests.faults.logscan import LogSummary, format_summary, scan_log, where
from tests.faults.rawhttp import RawAnswer, RawRequest, exchange
from tests.faults.stack import FaultStack
from tests.faults.verdict import event_line
from tests.functional.harness import FINAL

SETTINGS = {
    "retry_backoff_max": 30,
    # The sandbox GHL's marketplace app and the key it signs app webhooks with.
    "ghl_client_id": SANDBOX_CLIENT_ID,
    "ghl_client_secret": SANDBOX_CLIENT_SECRET,
    "ghl_webhook_public_key": SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
}
REQUEST_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 2.0
REPORT_LINES = 40
TAGS_PER_TARGET = 50
UNEXPECTED = "unexpected"
"""What the worker's last_error says when a flow raised something outside our error tree."""
SIGNATURE, TOKEN = "signature", "token"
BOOTING_WORKER = "Booting worker with pid"
"""What gunicorn logs for each worker it starts: a new one during the run replaced a lost one."""


@dataclass(frozen=True)
class Exchange:
    """One case, the request made of it, and the answer."""

    case: FuzzCase | GhlCase
    request: RawRequest
    answer: RawAnswer

    def line(self) -> str:
        got = self.answer.status if self.answer.status is not None else self.answer.error
        return (
            f"#{self.case.number} [{self.case.category}] {self.case.description}: "
            f"got {got}, contract {self.case.expect}\n    {self.request.describe()}\n"
            f"    answer: {self.answer.body[:300]!r}"
        )

    @property
    def auth(self) -> str:
        """Which kind of connection the request was for, or which GHL-facing endpoint."""
        if isinstance(self.case, GhlCase):
            return self.case.endpoint
        return SIGNATURE if self.case.bearer is None else TOKEN

    @property
    def server_error(self) -> bool:
        """A 5xx its endpoint does not document. The CRM receiver's 503 (its store or queue
        unavailable) counts too, as before: this run makes no outage, so one would be a fault."""
        status = self.answer.status
        if status is None or status < 500:
            return False
        return not (isinstance(self.case, GhlCase) and self.case.allows(status))

    @property
    def app_webhook_id(self) -> str | None:
        """The webhookId of an app webhook the receiver accepted (its task must process it)."""
        case = self.case
        if not isinstance(case, GhlCase) or case.endpoint != APP_WEBHOOK:
            return None
        if self.answer.status != 200 or b'"accepted"' not in self.answer.body:
            return None
        return case.webhook_id

    @property
    def event_id(self) -> str | None:
        if isinstance(self.case, GhlCase) or self.answer.status not in (200, 202):
            return None
        try:
            answer = json.loads(self.answer.body)
        except ValueError:
            return None
        event_id = answer.get("event_id") if isinstance(answer, dict) else None
        return event_id if isinstance(event_id, str) else None


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start everything, send the cases, wait for the events, and judge."""
    with FaultStack(workdir, settings_overrides=dict(SETTINGS)) as stack:
        stack.start_worker(concurrency=2)
        stack.start_beat()
        connections, targets = _connections(stack, args.connections)
        token_connections, token_targets = _connections(
            stack, args.token_connections, token_auth=True
        )
        crm_cases = interleave(
            generate_cases(args.seed, args.requests, targets),
            generate_token_cases(
                args.seed, args.token_requests, token_targets, first_number=args.requests
            )
            if args.token_requests
            else [],
        )
        side = GhlSide(
            _ghl_targets(stack),
            stack.settings.secret_key,
            http_authorizer(stack.ghl_url, oauth_redirect_uri(stack.settings)),
        )
        cases = spread(
            crm_cases,
            generate_ghl_cases(
                args.seed,
                args.ghl_requests,
                max_body_bytes=stack.settings.webhook_max_bytes,
                first_number=args.requests + args.token_requests,
            ),
        )
        address = urlsplit(stack.web_url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        print(f"  {len(cases)} requests, seed {args.seed}; logs in {workdir}", flush=True)

        problems: list[str] = []
        exchanges: list[Exchange] = []
        booted = stack.web.log_text().count(BOOTING_WORKER)
        began = time.monotonic()
        deadline = began + args.send_within
        for case in cases:
            if time.monotonic() > deadline:
                problems.append(
                    f"sent only {len(exchanges)} of {len(cases)} requests in {args.send_within} s"
                )
                break
            if isinstance(case, GhlCase):
                request, answer = send_ghl_case(
                    case, side, host, port, now=time.time(), timeout=REQUEST_TIMEOUT_SECONDS
                )
                exchanges.append(Exchange(case, request, answer))
                continue
            if case.bearer is None:
                secret = connections[case.target].webhook_secrets[0]
                request = build_request(case, targets[case.target], secret, int(time.time()))
            else:
                request = _token_request(case, token_connections, token_targets)
            answer = exchange(host, port, request, timeout=REQUEST_TIMEOUT_SECONDS)
            exchanges.append(Exchange(case, request, answer))
        sent_in = time.monotonic() - began

        accepted = {e.event_id for e in exchanges if e.event_id is not None}
        app_accepted = {e.app_webhook_id for e in exchanges if e.app_webhook_id is not None}
        waited_from = time.monotonic()
        events, terminal_in = _wait_terminal(stack, accepted, args.terminal_within)
        left = args.terminal_within - (time.monotonic() - waited_from)
        unprocessed = _wait_app_events(stack, app_accepted, max(left, 0.0))
        leaks = _token_leaks(exchanges, _secrets_of(stack, side.targets))
        logs = LogSummary()
        for path in sorted(workdir.glob("*.log")):
            if path.name.startswith(("worker", "beat")):
                logs.merge(scan_log(path.read_text(errors="replace")))
        alive = {
            "worker": stack.worker is not None and stack.worker.process.poll() is None,
            "beat": stack.beat is not None and stack.beat.process.poll() is None,
            "web": stack.web.process.poll() is None,
        }
        lost = stack.web.log_text().count(BOOTING_WORKER) - booted
        if lost > 0:
            problems.append(f"{lost} web worker(s) lost and started again (see web.log)")
        problems += [f"an answer holds a token: {leak}" for leak in leaks]
        if unprocessed:
            problems.append(
                f"{len(unprocessed)} accepted app webhook(s) not processed: "
                + ", ".join(sorted(unprocessed)[:REPORT_LINES])
            )
        return _judge(exchanges, accepted, events, terminal_in, logs, alive, problems, sent_in) | {
            "app_webhooks_accepted": len(app_accepted)
        }


def _connections(
    stack: FaultStack, count: int, *, token_auth: bool = False
) -> tuple[list[ConnectionRecord], list[FuzzTarget]]:
    """``count`` connections, one GHL location each (GHL allows 100 requests per 10 s per
    location: the valid events must not wait for the rate limit), writing back to the sandbox
    CRM. With ``token_auth`` they take a Bearer token and the CRM's own body through a mapping;
    every other one's mapping has no delivery id, so that its repeats are known by the body."""
    prefix = "fuzz-token" if token_auth else "fuzz"
    connections, targets = [], []
    for number in range(count):
        location = f"loc_{prefix.replace('-', '_')}_{number}"
        ghl_token = f"pit-{prefix}-{number}"
        with_id = token_auth and number % 2 == 0
        stack.add_ghl_location(location, ghl_token)
        connection = stack.new_connection(
            f"{prefix}-{number}",
            location,
            ghl_token,
            inbound_auth=TOKEN if token_auth else SIGNATURE,
            mapping=mapping_text(delivery_id=with_id) if token_auth else None,
        )
        seeded = seed_location(location)
        connections.append(connection)
        targets.append(
            FuzzTarget(
                connection_id=connection.id,
                location_id=location,
                tag_ids=tuple(tag.id for tag in seeded.tags[:TAGS_PER_TARGET]),
                ghl_post_ids=tuple(post.id for post in seeded.posts),
                max_body_bytes=stack.settings.webhook_max_bytes,
                delivery_id_mapped=with_id,
            )
        )
    return connections, targets


GHL_LOCATIONS = ("loc_fuzz_oauth_pinned", "loc_fuzz_oauth_shared", "loc_fuzz_oauth_lonely")


def _ghl_targets(stack: FaultStack) -> GhlTargets:
    """The connections the install cases name by role (`GhlTargets`), and their sandbox GHL
    locations: one OAuth connection of one location, two of another, none of a third, one
    OAuth connection without a location and one Private Integration connection."""
    pinned_location, shared_location, lonely_location = GHL_LOCATIONS
    for location in GHL_LOCATIONS:
        stack.add_ghl_location(location, f"pit-{location}")

    def oauth(name: str, location_id: str) -> str:
        return stack.store.create_connection(
            name=name,
            location_id=location_id,
            ghl_token="",
            ghl_auth="oauth",
            crm_url=f"{stack.crm_url or 'http://127.0.0.1:9'}/hooks/{name}",
        ).id

    pit = stack.new_connection("fuzz-oauth-pit", lonely_location, f"pit-{lonely_location}")
    return GhlTargets(
        pinned=oauth("fuzz-oauth-pinned", pinned_location),
        shared=(
            oauth("fuzz-oauth-shared-a", shared_location),
            oauth("fuzz-oauth-shared-b", shared_location),
        ),
        unplaced=oauth("fuzz-oauth-unplaced", ""),
        pit=pit.id,
        pinned_location=pinned_location,
        shared_location=shared_location,
        lonely_location=lonely_location,
    )


def _secrets_of(stack: FaultStack, targets: GhlTargets) -> list[str]:
    """The tokens stored for the install's connections and agencies now, and the secrets of
    this socialbridge: none may be in any answer."""
    found = [SANDBOX_CLIENT_SECRET, stack.settings.secret_key]
    for connection_id in (targets.pinned, *targets.shared, targets.unplaced, targets.pit):
        connection = stack.store.get_connection(connection_id)
        if connection is not None:
            found += [connection.ghl_token, connection.ghl_refresh_token or ""]
    agency = stack.store.get_agency(SANDBOX_COMPANY_ID)
    if agency is not None:
        found += [agency.access_token, agency.refresh_token]
    return [value for value in found if value]


def _token_leaks(exchanges: Sequence[Exchange], secrets: Sequence[str]) -> list[str]:
    """One line for each answer that holds a token form or one of ``secrets``."""
    leaks = []
    for e in exchanges:
        found = tokens_in(e.answer, secrets)
        if found:
            leaks.append(f"#{e.case.number} [{e.case.category}] {e.case.description}: {found}")
    return leaks


def _wait_app_events(stack: FaultStack, accepted: set[str], within: float) -> set[str]:
    """The accepted app webhooks not processed (no `processed_at`) after ``within`` seconds."""
    began = time.monotonic()
    while True:
        left = set()
        for webhook_id in accepted:
            record = stack.store.get_app_event(webhook_id)
            if record is None or record.processed_at is None:
                left.add(webhook_id)
        if not left or time.monotonic() - began > within:
            return left
        time.sleep(POLL_SECONDS)


def _token_request(
    case: FuzzCase, connections: Sequence[ConnectionRecord], targets: Sequence[FuzzTarget]
) -> RawRequest:
    connection = connections[case.target]
    other = connections[(case.target + 1) % len(connections)]
    if connection.inbound_token is None:
        raise RuntimeError(f"connection {connection.id} was made without an inbound token")
    return build_request(
        case,
        targets[case.target],
        connection.webhook_secrets[0],
        int(time.time()),
        token=connection.inbound_token,
        other_token=other.inbound_token if other.id != connection.id else None,
    )


def _wait_terminal(
    stack: FaultStack, accepted: set[str], within: float
) -> tuple[dict[str, EventRecord], float | None]:
    """The accepted events, once all are done or dead (and how long that took), or as they
    are after ``within`` seconds (and None)."""
    began = time.monotonic()
    while True:
        events = {e.id: e for e in stack.store.list_events(limit=1_000_000) if e.id in accepted}
        if len(events) == len(accepted) and all(e.status in FINAL for e in events.values()):
            return events, time.monotonic() - began
        if time.monotonic() - began > within:
            return events, None
        time.sleep(POLL_SECONDS)


def _judge(
    exchanges: Sequence[Exchange],
    accepted: set[str],
    events: dict[str, EventRecord],
    terminal_in: float | None,
    logs: LogSummary,
    alive: dict[str, bool],
    problems: list[str],
    sent_in: float,
) -> dict[str, Any]:
    server_errors = [e for e in exchanges if e.server_error]
    unanswered = [e for e in exchanges if e.answer.status is None]
    not_terminal = [event_line(e) for e in events.values() if e.status not in FINAL]
    missing = sorted(accepted - set(events))
    unexpected = [
        event_line(e) for e in events.values() if UNEXPECTED in (e.last_error or "").lower()
    ]
    failures = list(problems)
    if server_errors:
        failures.append(f"{len(server_errors)} answer(s) 5xx that no contract documents")
    if unanswered:
        failures.append(f"{len(unanswered)} request(s) got no answer")
    failures += [f"the {role} process is not running" for role, up in alive.items() if not up]
    if logs.crashes:
        failures.append(f"{len(logs.crashes)} crash line(s) in the worker/beat logs")
    if logs.exceptions:
        failures.append(f"{sum(logs.exceptions.values())} traceback(s) in the worker/beat logs")
    if not_terminal or missing:
        failures.append(f"{len(not_terminal) + len(missing)} accepted event(s) not done or dead")
    if unexpected:
        failures.append(f"{len(unexpected)} accepted event(s) ended in an unexpected error")

    by_status = Counter(_status(e) for e in exchanges)
    by_auth: dict[str, Counter[str]] = defaultdict(Counter)
    for e in exchanges:
        by_auth[e.auth][_status(e)] += 1
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for e in exchanges:
        by_category[e.case.category][_status(e)] += 1
    off_contract: dict[str, list[Exchange]] = defaultdict(list)
    for e in exchanges:
        if e.answer.status is not None and not answer_matches(e.case.expect, e.answer.status):
            key = f"[{e.case.category}] {e.case.description}: contract {e.case.expect}, got "
            off_contract[key + str(e.answer.status)].append(e)
    statuses = Counter(e.status for e in events.values())
    return {
        "passed": not failures,
        "failures": failures,
        "requests": len(exchanges),
        "sent_in_s": round(sent_in, 1),
        "answers": dict(sorted(by_status.items())),
        "answers_by_auth": {k: dict(sorted(v.items())) for k, v in sorted(by_auth.items())},
        "by_category": {k: dict(sorted(v.items())) for k, v in sorted(by_category.items())},
        "accepted": len(accepted),
        "statuses": dict(sorted(statuses.items())),
        "terminal_in_s": None if terminal_in is None else round(terminal_in, 1),
        "alive": alive,
        "off_contract": {k: len(v) for k, v in sorted(off_contract.items())},
        "details": {
            "5xx": [e.line() for e in server_errors],
            "no answer": [e.line() for e in unanswered],
            "not terminal": not_terminal + [f"{i} not in the store" for i in missing],
            "unexpected error": unexpected,
            "crash lines": logs.crashes,
            "off contract, one of each": [v[0].line() for v in off_contract.values()],
            "dead, for the record": [event_line(e) for e in events.values() if e.status == "dead"],
        },
        "logs": format_summary(logs),
    }


def _status(exchange: Exchange) -> str:
    return "no answer" if exchange.answer.status is None else str(exchange.answer.status)


def print_report(result: dict[str, Any]) -> None:
    """The figures, then what broke if anything did."""
    print(
        f"  {result['requests']} requests in {result['sent_in_s']} s; answers: "
        + ", ".join(f"{status} {count}" for status, count in result["answers"].items())
    )
    for auth, answers in result["answers_by_auth"].items():
        shown = ", ".join(f"{status} {count}" for status, count in answers.items())
        kind = f"GET/POST {auth}" if auth in ENDPOINTS else f"{auth} connections"
        print(f"    {kind} ({sum(answers.values())}): {shown}")
    statuses = sorted({s for counts in result["by_category"].values() for s in counts})
    rows = [
        [category, sum(counts.values()), *(counts.get(s, 0) for s in statuses)]
        for category, counts in result["by_category"].items()
    ]
    print(format_table(["category", "requests", *statuses], rows))
    terminal = result["terminal_in_s"]
    statuses_text = ", ".join(f"{s} {n}" for s, n in result["statuses"].items()) or "-"
    when = (
        f"all done or dead {terminal} s after the last request"
        if terminal is not None
        else "NOT all done or dead in time"
    )
    print(f"  accepted events {result['accepted']}: {when}; at the end: {statuses_text}")
    if "app_webhooks_accepted" in result:
        print(f"  app webhooks accepted (each processed by the worker): "
              f"{result['app_webhooks_accepted']}")  # fmt: skip
    print("  processes alive: " + ", ".join(f"{k} {v}" for k, v in result["alive"].items()))
    if result["logs"]:
        print("  worker and beat logs, errors by kind:")
        for line in result["logs"]:
            print("  " + line)
    if result["off_contract"]:
        print(f"  answers that differ from the contract ({sum(result['off_contract'].values())}"
              " requests; not asserted):")  # fmt: skip
        for key, count in sorted(result["off_contract"].items(), key=lambda kv: -kv[1]):
            print(f"    {count:>5} x {key}")
    print("FUZZ RUN PASSED" if result["passed"] else "FUZZ RUN FAILED:")
    for failure in result["failures"]:
        print(f"  - {failure}")
    for title, lines in result["details"].items():
        if not lines or (result["passed"] and title.startswith("off contract")):
            continue
        print(f"  {title} ({len(lines)}):")
        # Every 5xx is printed with its request; other lists are cut short.
        shown = lines if title == "5xx" else lines[:REPORT_LINES]
        for line in shown:
            print(f"    {line}")
        if len(lines) > len(shown):
            print(f"    … and {len(lines) - REPORT_LINES} more")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.fuzz",
        description="Send seeded hostile requests at the real receiver; assert no 5xx, "
        "no crash, and every accepted event finished.",
    )
    parser.add_argument(
        "--requests", type=whole_number, default=3000, help="how many to signature connections"
    )
    parser.add_argument(
        "--token-requests",
        type=whole_number_or_zero,
        default=1500,
        help="how many to token-authenticated connections with a mapping (0: none)",
    )
    parser.add_argument(
        "--ghl-requests",
        type=whole_number_or_zero,
        default=1000,
        help="how many to GHL's app webhooks and the install's start and callback (0: none)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the same seed sends the same requests")
    parser.add_argument("--connections", type=whole_number, default=10, help="to spread over")
    parser.add_argument(
        "--token-connections",
        type=whole_number,
        default=4,
        help="token-authenticated ones to spread over (every other one maps no delivery id)",
    )
    parser.add_argument(
        "--send-within", type=seconds, default=600.0, help="seconds allowed for sending"
    )
    parser.add_argument(
        "--terminal-within",
        type=seconds,
        default=120.0,
        help="seconds after the last request by which every accepted event must be done or dead",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (- stdout)")
    parser.add_argument("--keep", action="store_true", help="keep the logs in a temporary folder")
    return parser.parse_args(argv)


def whole_number_or_zero(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    with contextlib.suppress(ValueError):
        if int(text) >= 0:
            return int(text)
    raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print_machine(info)
    total = args.requests + args.token_requests + args.ghl_requests
    print(f"fuzz run (seed {args.seed}, {total} requests) …", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="socialbridge-fuzz-") as tmp:
        workdir = Path(tmp)
        try:
            result = run(args, workdir)
        except Exception as exc:  # a part that would not start: a failed run, said why
            result = {"passed": False, "failures": [where(exc)]}
        if args.keep:
            print(f"  logs kept in {keep_logs(workdir, 'socialbridge-fuzz-kept-')}")
    result["wall_s"] = round(time.monotonic() - began, 1)
    if "answers" in result:
        print_report(result)
    else:
        print(f"FUZZ RUN FAILED: {result['failures']}")
    print(f"  ({result['wall_s']} s)")
    if args.json:
        dump_json(args.json, {"machine": info, "run": result})
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
