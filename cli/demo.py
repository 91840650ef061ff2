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

import datetime as dt
import json
import secrets
import time
from typing import IO, Any

import click
import httpx
from click.core import ParameterSource
from standardwebhooks import Webhook

from cli.dev.demo_connections import (
    DEMO_CONTACT_ID,
    IXACT_KIND,
    SMARTOFFICE_KIND,
    demo_ixact_body,
    demo_ixact_mapping,
    demo_smartoffice_body,
    demo_smartoffice_mapping,
)
from cli.hints import waiting_hint
from cli.params import WAIT_SECONDS
from cli.render import emit_json, json_value, words
from cli.runtime import Runtime, json_option, pass_runtime
from crm.ixact.settings import is_loopback
from schemas.events import EVENT_TYPES, POST_PUBLISHED, TAG_DETAILS_REQUESTED
from socialbridge.errors import IntegrationError
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, EventRecord, EventStatus

# Where following stops: the event finished, or it waits for its connection, which only a
# person can bring back (`connections activate`, an install).
FINAL = (EventStatus.DONE, EventStatus.DEAD, EventStatus.WAITING)
DEMO_TITLE = "Open house this Saturday"
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
    """The body a CRM of this connection would send for TYPE; UsageError when unknown."""
    shipped = _shipped_mapping(record)
    if record.mapping is not None and shipped is None:
        raise click.UsageError(
            f"{record.name} has a mapping of its own, so `demo send` cannot know the body its "
            "CRM sends: send one with --body FILE (JSON, sent as it is; '-': standard input)"
        )
    if event_type == TAG_DETAILS_REQUESTED and not tag_ids:
        tag_ids = _first_tags(runtime, record)
    body: dict[str, Any]
    if shipped == SMARTOFFICE_KIND:
        body = demo_smartoffice_body(
            event_type,
            contact_id=_demo_contact(record),
            post_id=post_id,
            ghl_post_id=ghl_post_id,
            tag_ids=tag_ids,
            title=DEMO_TITLE,
        )
    elif shipped == IXACT_KIND:
        # Always the demo contact: its address and names belong together, and the Contact
        # Groups export needs the names.
        body = demo_ixact_body(
            event_type, post_id=post_id, ghl_post_id=ghl_post_id, tag_ids=tag_ids, title=DEMO_TITLE
        )
    else:
        data = _data(event_type, post_id, ghl_post_id, tag_ids)
        body = {"type": event_type, "timestamp": _now().isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


def _shipped_mapping(record: ConnectionRecord) -> str | None:
    """Which of `make run`'s shipped mappings the connection has (the kind it was made for),
    or None: no mapping, or one of its own."""
    if record.mapping is None:
        return None
    shipped = {
        SMARTOFFICE_KIND: demo_smartoffice_mapping(),
        IXACT_KIND: demo_ixact_mapping(),
    }
    return next((kind for kind, text in shipped.items() if record.mapping == text), None)


def _demo_contact(record: ConnectionRecord) -> str:
    """The SmartOffice contact the demo presses its button on: the connection's own, if set."""
    return str(record.crm_settings.get("stats_contact_id") or DEMO_CONTACT_ID)


def _headers(record: ConnectionRecord, body: bytes) -> dict[str, str]:
    """Authentication as the connection takes it: a Bearer token, or a Standard Webhooks
    signature of these exact bytes."""
    headers = {"content-type": "application/json"}
    if record.inbound_auth == InboundAuth.TOKEN:
        if not record.inbound_token:
            raise click.ClickException(f"{record.name} takes a token but has none stored")
        return {**headers, "authorization": f"Bearer {record.inbound_token}"}
    webhook_id = f"msg_{secrets.token_hex(12)}"
    timestamp = _now()
    # standardwebhooks signs text; a body that is not UTF-8 was refused by _read_body.
    signature = Webhook(record.webhook_secrets[0]).sign(webhook_id, timestamp, body.decode())
    return {
        **headers,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


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


def _data(
    event_type: str, post_id: str, ghl_post_id: str | None, tag_ids: tuple[str, ...]
) -> dict[str, Any]:
    if event_type == POST_PUBLISHED:
        data: dict[str, Any] = {
            "post_id": post_id,
            "title": DEMO_TITLE,
            "published_at": _now().isoformat(),
        }
        if ghl_post_id:
            data["ghl_post_id"] = ghl_post_id
        return data
    if event_type == TAG_DETAILS_REQUESTED:
        return {"post_id": post_id, "tag_ids": list(tag_ids)}
    return {}


def _first_tags(runtime: Runtime, record: ConnectionRecord) -> tuple[str, ...]:
    """Three real tag ids of the location, so the demo works against any GHL."""
    with runtime.services.ghl_for(record) as ghl:
        try:
            tags = ghl.list_tags(record.location_id)
        except IntegrationError as exc:
            raise click.ClickException(f"could not list tags to pick from: {exc}") from exc
    if not tags:
        raise click.ClickException("the location has no tags; pass --tag-id")
    return tuple(tag.id for tag in tags[:3])


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
