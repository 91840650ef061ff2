"""IXACT Contact end to end: a token-auth body -> web -> Redis -> worker -> one email over SMTP.

The bodies are what a user's automation posts for `make run`'s demo-ixact mapping; the worker
is the real one, and every write-back is one email through the sandbox mail server (STARTTLS
with a throw-away certificate trusted through ``smtp_ca_file``, AUTH with its seed login).
Each email must be filed by IXACT under its contact and reach nobody else:

    From        the connection's sender (an authorized sender address)
    To          the contact alone, no Cc
    envelope    RCPT TO notes@ixactcontact.com only
    Message-ID  from the write's idempotency key

Faults are the mail server's (`sandbox.mail.faults`): a 421 is retried until one email lands,
a connection dropped after the 250 is still one email, a 535 leaves the event dead and the
connection parked. Then `socialbridge ixact export-groups` turns what was mailed into IXACT
Contact Groups CSV files. (A server that takes the message and never answers, the one window
where a second copy can go out, is tested against the connector with a short timeout in
tests/unit/crm/ixact/test_connector.py: here the worker would wait out its crm_timeout.)
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from console.demo import demo_ixact_mapping
from crm.ixact.message import message_id
from sandbox.ghl.seed import seed_location
from sandbox.mail.state import DEMO_SMTP_PASSWORD
from store import ConnectionRecord, EventRecord, WriteStatus
from tests.functional.ixact import NOTES, SENDER, Ixact, body, contact_address

DEMO = seed_location("loc_demo")
TAG_NAMES = {tag.id: tag.name for tag in DEMO.tags}
POST = DEMO.posts[0]
POST_TAG_NAMES = [TAG_NAMES[tag_id] for tag_id in POST.tag_ids]
UNKNOWN_TAG = "000000000000000000000000"
WRITEBACKS = {
    "post.published": "post.tags_synced",
    "tag.details_requested": "post.tag_details_attached",
    "statistics.requested": "location.statistics_synced",
}


def accepted(answer: httpx.Response) -> str:
    """The event id of a body the receiver queued."""
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    event_id: str = answer.json()["event_id"]
    return event_id


def run(
    mail: Ixact,
    connection: ConnectionRecord,
    sent: dict[str, Any],
    *,
    until: Callable[[EventRecord], bool] = lambda event: event.status in ("done", "dead"),
) -> EventRecord:
    """POST ``sent`` with the connection's token and wait until its event is done or dead
    (or what ``until`` says)."""
    return mail.system.wait_for(accepted(mail.post(connection, sent)), until=until)


def key(event: EventRecord) -> str:
    """The idempotency key of the event's one write-back."""
    return f"{event.id}.{WRITEBACKS[event.type]}"


def published(contact: str, *, first_name: str = "", last_name: str = "") -> dict[str, Any]:
    """The body for a post published as the demo location's first GHL post."""
    return body(
        "post.published",
        contact,
        first_name=first_name,
        last_name=last_name,
        ghl_post_id=POST.id,
    )


def assert_filed_under(email: dict[str, Any], contact: str, event: EventRecord) -> None:
    """``email`` is the event's one write, for IXACT to file under ``contact`` only."""
    assert email["from"] == SENDER
    assert email["to"] == contact
    assert email["cc"] is None
    assert email["envelope_from"] == SENDER
    assert email["envelope_to"] == [NOTES]
    assert email["message_id"] == message_id(key(event))
    # Over STARTTLS, logged in as the sandbox's seed user.
    assert email["tls"] is True
    assert email["auth_user"] == SENDER
    assert email["text"].endswith(f"\n\nsocialbridge-id: {key(event)}\n")


# --- each flow sends its email ---------------------------------------------------------------


def test_a_published_post_sends_one_email_with_the_posts_tags(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("ann")

    event = run(ixact, connection, published(contact, first_name="Ann", last_name="Lee"))

    assert event.status == "done", event.last_error
    assert event.attempts == 1
    assert event.payload["data"]["record"] == {
        "contact_email": contact,
        "first_name": "Ann",
        "last_name": "Lee",
        "title": "Open house",
    }
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    assert email["subject"] == 'GHL tags for "Open house"'
    lines = email["text"].splitlines()
    assert lines[0] == 'HighLevel (GHL) tags for the post "Open house".'
    assert f"Post tags ({len(POST_TAG_NAMES)}): {', '.join(POST_TAG_NAMES)}" in lines
    assert f"GHL post: {POST.id}" in lines
    [write] = ixact.system.store.list_writes(connection.id)
    assert (write.idempotency_key, write.contact) == (key(event), contact)
    assert (write.status, write.attempts) == (WriteStatus.SENT, 1)
    assert write.tags == POST_TAG_NAMES


def test_a_tag_details_request_sends_one_email_naming_unknown_tags(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("ben")
    known = DEMO.tags[5]
    sent = body("tag.details_requested", contact, tag_ids=(known.id, UNKNOWN_TAG))

    event = run(ixact, connection, sent)

    assert event.status == "done", event.last_error
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    assert email["subject"] == 'GHL tag details for "Open house"'
    lines = email["text"].splitlines()
    assert lines[0] == 'HighLevel (GHL) tag details for the post "Open house".'
    assert lines[2].startswith(f"{known.name} (id {known.id})")
    assert f"Not known to GHL: {UNKNOWN_TAG}" in lines
    [write] = ixact.system.store.list_writes(connection.id)
    assert write.tags == [known.name]


def test_statistics_for_a_period_send_one_email_with_the_totals(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("office")
    sent = body("statistics.requested", contact)
    sent["period"] = {"from": "2026-02-01", "to": "2026-02-14"}

    event = run(ixact, connection, sent)

    assert event.status == "done", event.last_error
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    assert email["subject"] == "GHL statistics 2026-02-01 to 2026-02-14"
    snapshot = ixact.system.store.latest_snapshot(connection.id)
    assert snapshot is not None
    totals = ", ".join(f"{name} {value}" for name, value in snapshot.totals.items())
    assert f"Totals: {totals}" in email["text"].splitlines()
    [write] = ixact.system.store.list_writes(connection.id)
    assert write.tags == []  # statistics put the contact in no group


def test_statistics_without_a_contact_go_to_the_stats_contact(ixact: Ixact) -> None:
    office = contact_address("office")
    connection = ixact.connect(stats_contact_email=office)
    sent = body("statistics.requested", "unused@example.com")
    del sent["contact"]  # a scheduled-like request: about no contact

    event = run(ixact, connection, sent)

    assert event.status == "done", event.last_error
    assert event.payload["data"].get("record") is None
    [email] = ixact.messages()
    assert_filed_under(email, office, event)
    # GHL's default period: the last 7 days.
    period = re.fullmatch(r"GHL statistics (\S+) to (\S+)", email["subject"])
    assert period is not None, email["subject"]
    start, end = (dt.date.fromisoformat(day) for day in period.groups())
    assert end - start == dt.timedelta(days=6)


def test_a_mapped_subject_and_body_leave_the_addresses_alone(ixact: Ixact) -> None:
    outbound = """\
outbound:
  post.tags_synced:
    Subject: {template: "Social post tagged: {{ record.title or post_id }}"}
    Body:
      template: |-
        Your post is live with {{ post_tags | length }} tags:
        {{ post_tags | map(attribute="name") | join(", ") }}
"""
    connection = ixact.connect(mapping=demo_ixact_mapping() + outbound)
    contact = contact_address("cleo")

    event = run(ixact, connection, published(contact))

    assert event.status == "done", event.last_error
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    assert email["subject"] == "Social post tagged: Open house"
    assert email["text"] == (
        f"Your post is live with {len(POST_TAG_NAMES)} tags:\n"
        f"{', '.join(POST_TAG_NAMES)}\n\nsocialbridge-id: {key(event)}\n"
    )


# --- one email per write, whatever happens to the deliveries and the answers ---------------


def test_the_same_body_posted_twice_is_one_event_and_one_email(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("dup")
    sent = body("post.published", contact, request_id="req_twice")

    first = ixact.post(connection, sent)
    second = ixact.post(connection, sent)

    event_id = accepted(first)
    assert second.status_code == 200, second.text
    assert second.json() == {"event_id": event_id, "status": "duplicate"}
    event = ixact.system.wait_for(event_id)
    assert event.status == "done", event.last_error
    assert len(ixact.system.store.list_events(connection_id=connection.id)) == 1
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)


def test_a_421_is_retried_and_one_email_lands(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("busy")
    ixact.fault(kind="reply", code=421)

    event = run(ixact, connection, published(contact))

    assert event.status == "done", event.last_error
    assert event.attempts == 2
    assert event.last_error is not None
    assert event.last_error.startswith("crm: the SMTP server smtp://127.0.0.1:")
    assert "asked to try again later (send): 421 4.3.2" in event.last_error
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    [write] = ixact.system.store.list_writes(connection.id)
    assert (write.status, write.attempts) == (WriteStatus.SENT, 2)


def test_a_connection_dropped_after_the_250_is_still_one_email(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("drop")
    ixact.fault(kind="close_after_250")

    event = run(ixact, connection, published(contact))

    # The 250 was read: the message is the server's, whatever happens to QUIT.
    assert event.status == "done", event.last_error
    assert event.attempts == 1
    [email] = ixact.messages()
    assert_filed_under(email, contact, event)
    [write] = ixact.system.store.list_writes(connection.id)
    assert (write.status, write.attempts) == (WriteStatus.SENT, 1)


def test_a_535_parks_the_connection_and_the_event_waits(ixact: Ixact) -> None:
    connection = ixact.connect()
    contact = contact_address("denied")
    ixact.fault(kind="auth_fail")

    event = run(ixact, connection, published(contact), until=lambda e: e.status == "waiting")

    stored = ixact.system.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "parked"
    refusal = (stored.status_reason or "").removeprefix("credentials refused: ")
    assert refusal.startswith(
        f"crm: the SMTP server smtp://127.0.0.1:{ixact.system.smtp_port} refused the login of "
        f"{SENDER}: 535 "
    )
    assert refusal.endswith("; check smtp_user and smtp_password")
    assert (event.status, event.error_kind, event.attempts) == ("waiting", None, 0)
    assert event.last_error == f"connection is parked: {stored.status_reason}"
    assert ixact.messages() == []
    # Begun, never sent: the Contact Groups export will not count it.
    [write] = ixact.system.store.list_writes(connection.id)
    assert write.status == WriteStatus.SENDING
    worker_log = ixact.system.worker.log_path.read_text(errors="replace")
    # The worker logged this write's refusal, and not the password.
    assert event.id in worker_log
    assert DEMO_SMTP_PASSWORD not in worker_log


# --- Contact Groups ------------------------------------------------------------------------


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream))


def test_export_groups_writes_each_contact_with_the_tags_mailed_to_it(
    ixact: Ixact, tmp_path: Path
) -> None:
    connection = ixact.connect()
    ann, nameless, denied = (contact_address(label) for label in ("ann", "anon", "denied"))
    known = DEMO.tags[5]
    events = [
        run(ixact, connection, published(ann, first_name="Ann", last_name="Lee")),
        run(ixact, connection, body("tag.details_requested", ann, tag_ids=(known.id,))),
        run(ixact, connection, published(nameless)),
    ]
    ixact.fault(kind="auth_fail")
    events.append(
        run(
            ixact,
            connection,
            published(denied, first_name="Dee"),
            until=lambda e: e.status == "waiting",
        )
    )
    # The refused login parks the connection; its event waits and was never mailed.
    assert [event.status for event in events] == ["done", "done", "done", "waiting"]
    assert [email["to"] for email in ixact.messages()] == [ann, ann, nameless]
    out = tmp_path / "groups"

    result = ixact.cli("ixact", "export-groups", connection.name, "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(entry.name for entry in out.iterdir()) == ["groups-1.csv", "needs-names.csv"]
    header = ["First Name", "Last Name", "Company", "Email", "Contact Groups"]
    # Ann: the post's tags, then the tag whose details were mailed (each once).
    groups = ",".join(dict.fromkeys([*POST_TAG_NAMES, known.name]))
    assert read_csv(out / "groups-1.csv") == [header, ["Ann", "Lee", "", ann, groups]]
    # No name: IXACT would refuse the row, so it waits in needs-names.csv.
    assert read_csv(out / "needs-names.csv") == [
        header,
        ["", "", "", nameless, ",".join(POST_TAG_NAMES)],
    ]
    # The contact whose email the server refused is nowhere: nothing was sent to it.
    assert denied not in (out / "groups-1.csv").read_text(encoding="utf-8-sig")
    assert denied not in (out / "needs-names.csv").read_text(encoding="utf-8-sig")
    assert "warning: 1 contact without a first name, last name or company" in result.stderr
