"""`socialbridge demo send TYPE`: sign and send a CRM event, the way a CRM would."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from typing import Any

import click
import httpx
from standardwebhooks import Webhook

from cli.params import WAIT_SECONDS
from cli.render import emit_json, json_value, words
from cli.runtime import Runtime, json_option, pass_runtime
from schemas.events import EVENT_TYPES, POST_PUBLISHED, TAG_DETAILS_REQUESTED
from socialbridge.errors import IntegrationError
from store import ConnectionRecord, EventRecord

FINAL = ("done", "dead")


@click.group("demo")
def group() -> None:
    """Try the bridge by hand."""


@group.command("send")
@click.argument("event_type", metavar="TYPE", type=click.Choice(EVENT_TYPES))
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
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow the event until it is done or dead.",
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
    event_type: str,
    connection: str,
    post_id: str,
    ghl_post_id: str,
    tag_ids: tuple[str, ...],
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Send a signed TYPE event to this connection's webhook URL and follow it.

    Both forms print the URL, the HTTP status, and then the receiver's answer (refused) or
    the event id and status (accepted); with --wait also its attempts, last error and error
    kind once it is done or dead.
    """
    record = runtime.connection(connection)
    data = _data(runtime, record, event_type, post_id, ghl_post_id or None, tag_ids)
    body = json.dumps(
        {"type": event_type, "timestamp": _now().isoformat(), "data": data},
        separators=(",", ":"),
    )
    url = f"{runtime.settings.base_url}/webhooks/crm/{record.id}"
    webhook_id = f"msg_{secrets.token_hex(12)}"
    timestamp = _now()
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(record.webhook_secrets[0]).sign(webhook_id, timestamp, body),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=15)
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
        )
    if as_json:
        emit_json(result)
    elif wait:
        click.echo(_ending(result))
    if wait and result["status"] != "done":
        raise SystemExit(1)


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


def _ending(result: dict[str, Any]) -> str:
    attempts = f"{result['attempts']} attempt{'' if result['attempts'] == 1 else 's'}"
    if result["status"] == "done":
        return (
            f"done after {attempts}. See the write-back on the sandbox CRM page, or: "
            f"socialbridge events show {result['event_id']}"
        )
    kind = f" ({result['error_kind']})" if result["error_kind"] else ""
    return f"{result['status']}{kind} after {attempts}: {words(result['last_error'])}"


def _data(
    runtime: Runtime,
    record: ConnectionRecord,
    event_type: str,
    post_id: str,
    ghl_post_id: str | None,
    tag_ids: tuple[str, ...],
) -> dict[str, Any]:
    if event_type == POST_PUBLISHED:
        data: dict[str, Any] = {
            "post_id": post_id,
            "title": "Open house this Saturday",
            "published_at": _now().isoformat(),
        }
        if ghl_post_id:
            data["ghl_post_id"] = ghl_post_id
        return data
    if event_type == TAG_DETAILS_REQUESTED:
        return {"post_id": post_id, "tag_ids": list(tag_ids) or _first_tags(runtime, record)}
    return {}


def _first_tags(runtime: Runtime, record: ConnectionRecord) -> list[str]:
    """Three real tag ids of the location, so the demo works against any GHL."""
    with runtime.services.ghl_for(record) as ghl:
        try:
            tags = ghl.list_tags(record.location_id)
        except IntegrationError as exc:
            raise click.ClickException(f"could not list tags to pick from: {exc}") from exc
    if not tags:
        raise click.ClickException("the location has no tags; pass --tag-id")
    return [tag.id for tag in tags[:3]]


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
