"""`socialbridge demo send TYPE`: send a CRM event the way the connection's CRM would.

What is sent depends on the connection:

    no mapping                  our event format (docs/webhooks.md), made from the options
    make run's demo mappings    the body that mapping reads: a SmartOffice button's
                                (`demo-smartoffice`), or what a user's automation posts about
                                an IXACT contact (`demo-ixact`: the demo contact's address and
                                names); a fresh request_id each time, so two sends are two
                                events
    any other mapping           only ``--body FILE``: `demo send` cannot know its CRM's body

``--body FILE`` (``-``: stdin) sends that JSON as it is, to any connection. The request is
authenticated as the connection expects: Standard Webhooks signature headers, or
``Authorization: Bearer <inbound token>`` for a token connection.

With ``--wait``, a done event points at where its write-back shows: the sandbox CRM page, the
SmartOffice sandbox page, or for IXACT the mail sandbox page (a connection whose mail server
is this machine's) or the contact's Contact History in IXACT. Following also ends when the
event is ``waiting``: its connection is not active (parked, needs_reauth, disconnected), and
nothing moves it until someone acts, so the last line says what to do (`cli.hints`).
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

import click
import httpx
from click.core import ParameterSource

from cli.params import WAIT_SECONDS
from cli.render import emit_json, json_value, words
from cli.runtime import Runtime, json_option, pass_runtime
from console import demo_events
from console.demo import IXACT_KIND, SMARTOFFICE_KIND
from console.hints import waiting_hint
from crm.ixact.settings import is_loopback
from schemas.events import EVENT_TYPES
from store import ConnectionRecord, EventRecord, EventStatus

# Where following stops: the event finished, or it waits for its connection, which only a
# person can bring back (`connections activate`, an install).
FINAL = (EventStatus.DONE, EventStatus.DEAD, EventStatus.WAITING)
# The options that shape a body made for TYPE; with --body they would silently do nothing.
SHAPING_OPTIONS = ("event_type", "post_id", "ghl_post_id", "tag_ids")


@click.group("demo")
def group() -> None:
    """Try the bridge by hand."""


@group.command("send")
@click.argument("event_type", metavar="TYPE", type=click.Choice(EVENT_TYPES), required=False)
@click.option("--connection", default="demo", show_default=True, help="Connection id or name.")
@click.option("--post-id", default="crm-post-1", show_default=True, help="The CRM's post id.")
@click.option(
    "--ghl-post-id",
    default="post_demo_1",
    show_default=True,
    help="GHL post named by post.published ('' for none).",
)
@click.option(
    "--tag-id",
    "tag_ids",
    multiple=True,
    help="Tag ids for tag.details_requested [default: the first 3 tags of the location].",
)
@click.option(
    "--body",
    "body_file",
    type=click.File("rb"),
    metavar="FILE",
    help="Send this JSON file as it is instead of a body made for TYPE ('-': standard "
    "input); the only way for a connection with a mapping of its own.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow the event until it is done, dead or waiting for its connection.",
)
@click.option(
    "--timeout",
    type=WAIT_SECONDS,
    default=60.0,
    show_default=True,
    help="Seconds to wait for the event to finish: more than 0, at most 3600.",
)
@json_option
@pass_runtime
def send(
    runtime: Runtime,
    event_type: str | None,
    connection: str,
    post_id: str,
    ghl_post_id: str,
    tag_ids: tuple[str, ...],
    body_file: IO[bytes] | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Send a TYPE event to this connection's webhook URL, as its CRM would, and follow it.

    With --body FILE, TYPE is left out: the file is sent as it is.

    Both forms print the URL, the HTTP status, and then the receiver's answer (refused) or
    the event id and status (accepted); with --wait also its attempts, last error and error
    kind once it is done or dead, or once it waits for its connection, with the hint that
    says what brings the connection back (exit 1: the event did not finish).
    """
    record = runtime.connection(connection)
    if body_file is not None:
        _refuse_shaping_options()
        body = _read_body(body_file)
    elif event_type is None:
        raise click.UsageError("give TYPE, or --body FILE to send a body of your own")
    else:
        body = _made_body(runtime, record, event_type, post_id, ghl_post_id or None, tag_ids)
    url = f"{runtime.settings.base_url}/webhooks/crm/{record.id}"
    try:
        response = httpx.post(url, content=body, headers=_headers(record, body), timeout=15)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {url}: {exc}. Is `make run` running?") from exc
    answer = _json(response)
    result: dict[str, Any] = {"url": url, "status_code": response.status_code}
    if response.status_code not in (200, 202):
        result["answer"] = json_value(answer)
        if as_json:
            emit_json(result)
        else:
            click.echo(f"POST {url}  ->  {response.status_code} {_refusal(answer)}")
        raise SystemExit(1)
    if not isinstance(answer, dict) or not isinstance(answer.get("event_id"), str):
        raise click.ClickException(
            f"POST {url} answered {response.status_code} without an event id: {words(answer)}"
        )
    result.update(event_id=answer["event_id"], status=str(answer.get("status")))
    if not as_json:
        click.echo(
            f"POST {url}  ->  {response.status_code} {result['status']} {result['event_id']}"
        )
    if wait:
        event = _follow(runtime, result["event_id"], timeout, quiet=as_json)
        result.update(
            status=event.status,
            attempts=event.attempts,
            last_error=event.last_error,
            error_kind=event.error_kind,
            hint=_hint(runtime, record) if event.status == EventStatus.WAITING else None,
        )
    if as_json:
        emit_json(result)
    elif wait:
        click.echo(_ending(result, record))
    if wait and result["status"] != "done":
        raise SystemExit(1)


# --- the body ----------------------------------------------------------------------------


def _refuse_shaping_options() -> None:
    context = click.get_current_context()
    given = [
        param
        for param in context.command.params
        if param.name in SHAPING_OPTIONS
        and context.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    ]
    if given:
        names = ", ".join(param.get_error_hint(context) for param in given)
        raise click.UsageError(f"--body sends the file as it is: {names} cannot shape it")


def _read_body(source: IO[bytes]) -> bytes:
    """The bytes of --body, checked to be JSON (sent as they are, not re-encoded)."""
    name = getattr(source, "name", "-")
    raw = source.read()
    try:
        # UTF-8 only: json.loads would also take UTF-16, which cannot be signed as text.
        json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise click.BadParameter(f"{name}: not JSON: {exc}", param_hint="'--body'") from None
    return raw


def _made_body(
    runtime: Runtime,
    record: ConnectionRecord,
    event_type: str,
    post_id: str,
    ghl_post_id: str | None,
    tag_ids: tuple[str, ...],
) -> bytes:
    """The body a CRM of this connection would send for TYPE (`console.demo_events`)."""
    try:
        return demo_events.made_body(
            runtime.services, record, event_type, post_id, ghl_post_id, tag_ids
        )
    except demo_events.DemoEventRefused as exc:
        if exc.usage:
            raise click.UsageError(str(exc)) from None
        raise click.ClickException(str(exc)) from None


def _headers(record: ConnectionRecord, body: bytes) -> dict[str, str]:
    """Authentication as the connection takes it (`console.demo_events.signed_headers`)."""
    try:
        return demo_events.signed_headers(record, body)
    except demo_events.DemoEventRefused as exc:
        raise click.ClickException(str(exc)) from None


# --- the answer --------------------------------------------------------------------------


def _refusal(answer: Any) -> str:
    """The receiver's refusal in words: its message, or each invalid field with its messages."""
    if isinstance(answer, dict):
        if isinstance(answer.get("errors"), dict):
            return "; ".join(
                f"{field}: {words(messages)}" for field, messages in answer["errors"].items()
            )
        if "message" in answer:
            error = f"{answer['error']}: " if answer.get("error") else ""
            return f"{error}{words(answer['message'])}"
    return words(answer)


def _ending(result: dict[str, Any], record: ConnectionRecord) -> str:
    attempts = f"{result['attempts']} attempt{'' if result['attempts'] == 1 else 's'}"
    if result["status"] == "done":
        page = _where_it_shows(record)
        return (
            f"done after {attempts}. See {page}, or: socialbridge events show {result['event_id']}"
        )
    if result["status"] == EventStatus.WAITING:
        # No attempt counts while it waits (the one that found the problem is given back).
        return f"waiting: {words(result['last_error'])}\n{result['hint']}"
    kind = f" ({result['error_kind']})" if result["error_kind"] else ""
    return f"{result['status']}{kind} after {attempts}: {words(result['last_error'])}"


def _hint(runtime: Runtime, record: ConnectionRecord) -> str:
    """What brings the waiting event's connection back, from its status as it is now."""
    current = runtime.store.get_connection(record.id)
    if current is None:
        return f"{record.name} was removed, and its events with it"
    return waiting_hint(current, runtime.settings)


def _where_it_shows(record: ConnectionRecord) -> str:
    """Where a done event's write-back can be seen, for the last line of --wait."""
    if record.crm_kind == SMARTOFFICE_KIND:
        return "the SmartPad on the SmartOffice sandbox page"
    if record.crm_kind == IXACT_KIND:
        # Only a mail server on this machine can be the sandbox; any other one sent the
        # email to IXACT for real.
        host = str(record.crm_settings.get("smtp_host") or "")
        if is_loopback(host):
            return "the email on the mail sandbox page"
        return "the email in the contact's Contact History in IXACT (or in Unassigned Emails)"
    return "the write-back on the sandbox CRM page"


def _follow(runtime: Runtime, event_id: str, timeout: float, *, quiet: bool) -> EventRecord:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        event = runtime.store.get_event(event_id)
        if event is None:
            raise click.ClickException(f"event {event_id} is not in the log")
        state = f"{event.status} (attempt {event.attempts})"
        if state != last and not quiet:
            click.echo(
                f"  {event_id}: {state}" + (f": {event.last_error}" if event.last_error else "")
            )
            last = state
        if event.status in FINAL:
            return event
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"{event_id} is still {event.status} after {timeout:g} s; is a worker running?"
            )
        time.sleep(0.3)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
