"""SmartOffice end to end: a token-auth CRM body -> web -> Redis -> worker -> sandbox XML Engine.

Every write lands as a SmartPad on the sandbox SmartOffice over real HTTP; errors are injected
as the sandbox's faults, which take the XML Engine's requests in order (a write is a search,
then an insert). The SmartOffice error families (docs/connectors/smartoffice.md):

    1, 2003                       retried
    2002, 10001                   connection parked, the event waits for it
    1001, 3xxx .. 8xxx            event dead ("permanent"), SmartOffice's code and message kept
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.ghl.seed import seed_location
from sandbox.smartoffice.state import DEMO_CONTACT_ID, DEMO_OFFICE, DEMO_SITENAME, DEMO_USER
from socialbridge.logs import TextFormatter
from store import ConnectionRecord, EventRecord
from tests.functional.smartoffice import (
    DIRECT,
    GATEWAY,
    SANDBOX_SECRETS,
    STATS_CONTACT_ID,
    SmartOffice,
    crm_body,
    operations,
    socialbridge,
)

DEMO = seed_location("loc_demo")
TAG_NAMES = {tag.id: tag.name for tag in DEMO.tags}
PROFILES = [account.profile_id for account in DEMO.accounts if account.profile_id]
UNKNOWN_TAG = "000000000000000000000000"
OTHER_CONTACT = "Contact.1.32"
MISSING_CONTACT = "Contact.1.999"
WRONG_PASSWORD = "not-the-sandbox-password"


def accepted(answer: httpx.Response) -> str:
    """The event id of a body the receiver queued."""
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    event_id: str = answer.json()["event_id"]
    return event_id


def run(
    office: SmartOffice,
    connection: ConnectionRecord,
    body: dict[str, Any],
    *,
    until: Callable[[EventRecord], bool] = lambda event: event.status in ("done", "dead"),
) -> EventRecord:
    """POST ``body`` with the connection's token and wait until its event is done or dead
    (or what ``until`` says)."""
    return office.system.wait_for(accepted(office.post(connection, body)), until=until)


def waiting(event: EventRecord) -> bool:
    return event.status == "waiting"


def marker(event: EventRecord, writeback_type: str) -> str:
    return f"socialbridge-id: {event.id}.{writeback_type}"


def published(post_id: str, *, contact: str | None = DEMO_CONTACT_ID) -> dict[str, Any]:
    """A button's body for a published post, linked to the demo location's first GHL post."""
    return crm_body(
        "social_post_published",
        contact=contact,
        post={"id": post_id, "ghl_id": DEMO.posts[0].id, "title": "Open house"},
    )


# --- each flow writes its SmartPad ---------------------------------------------------------


def test_a_published_post_writes_one_smartpad_with_the_mappings_texts(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    post = DEMO.posts[0]
    names = [TAG_NAMES[tag_id] for tag_id in post.tag_ids]

    event = run(smartoffice, connection, published("crm-so-1"))

    assert event.status == "done", event.last_error
    assert event.attempts == 1
    assert event.type == "post.published"
    assert event.payload["data"]["record"] == {"contact_id": DEMO_CONTACT_ID}
    (pad,) = smartoffice.smartpads()
    assert pad["ContactID"] == DEMO_CONTACT_ID
    # The mapping's outbound part: the post's own tag names, and its template as the Note.
    assert pad["Keywords"] == ", ".join(names)
    assert pad["Note"] == (
        f"Social post crm-so-1 is GHL post {post.id}.\n"
        f"Its tags: {', '.join(names)}\n"
        f"{marker(event, 'post.tags_synced')}"
    )
    log = smartoffice.requests()
    assert [operations(entry) for entry in log] == [["search"], ["insert"]]
    assert [entry["auth"] for entry in log] == ["direct", "direct"]
    assert [entry["codes"] for entry in log] == [[], []]


def test_a_tag_details_request_writes_the_default_texts_naming_unknown_tags(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    known = DEMO.tags[5]
    body = crm_body(
        "tag_info", post={"id": "crm-so-2", "tags": [{"id": known.id}, {"id": UNKNOWN_TAG}]}
    )

    event = run(smartoffice, connection, body)

    assert event.status == "done", event.last_error
    assert event.payload["data"]["tag_ids"] == [known.id, UNKNOWN_TAG]
    (pad,) = smartoffice.smartpads()
    assert pad["ContactID"] == DEMO_CONTACT_ID
    assert pad["Keywords"] == known.name
    lines = pad["Note"].splitlines()
    assert lines[0] == "GHL tag details for CRM post crm-so-2"
    assert lines[1].startswith(f"{known.name} [id {known.id}]")
    assert f"Not known to GHL: {UNKNOWN_TAG}" in lines
    assert lines[-2].startswith("Synced ")
    assert lines[-1] == marker(event, "post.tag_details_attached")


def test_statistics_without_a_contact_land_on_the_stats_contact(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    body = crm_body("stats", contact=None, period=("02/01/2026", "02/14/2026"))

    event = run(smartoffice, connection, body)

    assert event.status == "done", event.last_error
    assert event.payload["data"].get("record") is None
    # The mapping turned SmartOffice's US dates into the event's ISO days.
    assert (event.payload["data"]["start_date"], event.payload["data"]["end_date"]) == (
        "2026-02-01",
        "2026-02-14",
    )
    assert smartoffice.smartpads(DEMO_CONTACT_ID) == []
    (pad,) = smartoffice.smartpads()
    assert pad["ContactID"] == STATS_CONTACT_ID
    assert pad["Keywords"].split(", ")[0] == "GHL statistics"
    lines = pad["Note"].splitlines()
    assert lines[0] == "GHL statistics for location loc_demo, 2026-02-01 to 2026-02-14"
    assert lines[1] == f"Profiles: {len(PROFILES)}"
    snapshot = smartoffice.system.store.latest_snapshot(connection.id)
    assert snapshot is not None
    assert lines[2] == "Totals: " + ", ".join(
        f"{name} {json.dumps(value)}" for name, value in snapshot.totals.items()
    )
    assert lines[-1] == marker(event, "location.statistics_synced")


def test_statistics_for_a_contact_land_on_that_contact(smartoffice: SmartOffice) -> None:
    connection = smartoffice.connect()

    event = run(smartoffice, connection, crm_body("stats", contact=OTHER_CONTACT))

    assert event.status == "done", event.last_error
    (pad,) = smartoffice.smartpads()
    assert pad["ContactID"] == OTHER_CONTACT
    assert pad["Note"].endswith(f"\n{marker(event, 'location.statistics_synced')}")


# --- one write, whatever happens to the deliveries and the answers ---------------------------


def test_the_same_body_posted_twice_is_one_event_and_one_smartpad(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    body = crm_body("social_post_published", delivery_id="press_twice", post={"id": "crm-dup"})

    first = smartoffice.post(connection, body)
    second = smartoffice.post(connection, body)

    event_id = accepted(first)
    assert second.status_code == 200, second.text
    assert second.json() == {"event_id": event_id, "status": "duplicate"}
    event = smartoffice.system.wait_for(event_id)
    assert event.status == "done", event.last_error
    assert len(smartoffice.system.store.list_events(connection_id=connection.id)) == 1
    (pad,) = smartoffice.smartpads()
    assert pad["Note"].endswith(marker(event, "post.tags_synced"))


def test_an_insert_whose_answer_is_lost_is_retried_and_stored_once(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    # Faults take requests in order: the search only waits a millisecond, then the insert is
    # committed and its connection closed without an answer.
    smartoffice.fault(delay_ms=1)
    smartoffice.fault(drop_answer=True, times=1)

    event = run(smartoffice, connection, published("crm-lost"))

    assert event.status == "done", event.last_error
    assert event.attempts == 2
    assert event.last_error is not None
    assert event.last_error.startswith("crm: SmartOffice at http://127.0.0.1:")
    (pad,) = smartoffice.smartpads()
    assert pad["Note"].endswith(marker(event, "post.tags_synced"))
    log = smartoffice.requests()
    assert [entry["answer"] for entry in log] == ["sent", "dropped", "sent"]
    # The retry's search found the committed SmartPad: no second insert.
    assert [operations(entry) for entry in log] == [["search"], ["insert"], ["search"]]


# --- SmartOffice's error families ------------------------------------------------------------


@pytest.mark.parametrize(("code", "times"), [(1, 1), (2003, 2)], ids=["system", "session"])
def test_a_system_or_session_error_is_retried_until_the_write_lands(
    smartoffice: SmartOffice, code: int, times: int
) -> None:
    connection = smartoffice.connect()
    smartoffice.fault(code=code, times=times)

    event = run(smartoffice, connection, published(f"crm-retry-{code}"))

    assert event.status == "done", event.last_error
    assert event.attempts == times + 1
    assert event.last_error is not None
    assert event.last_error.startswith(f"crm: SmartOffice error {code}: ")
    assert len(smartoffice.smartpads()) == 1
    codes = [entry["codes"] for entry in smartoffice.requests()]
    assert codes == [[code]] * times + [[], []]
    stored = smartoffice.system.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "active"


@pytest.mark.parametrize(
    ("code", "message"),
    [(2002, "Login failed."), (10001, "Data access denied.")],
    ids=["login", "access"],
)
def test_a_refused_login_or_access_parks_the_connection(
    smartoffice: SmartOffice, code: int, message: str
) -> None:
    connection = smartoffice.connect()
    smartoffice.fault(code=code)

    event = run(smartoffice, connection, published(f"crm-auth-{code}"), until=waiting)

    stored = smartoffice.system.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "parked"
    assert stored.status_reason is not None
    assert stored.status_reason.startswith(
        f"credentials refused: crm: SmartOffice error {code}: {message} (check "
    )
    # The event that found it waits with the connection, its attempt given back.
    assert (event.status, event.error_kind, event.attempts) == ("waiting", None, 0)
    assert event.last_error == f"connection is parked: {stored.status_reason}"
    assert smartoffice.smartpads() == []


def test_a_wrong_password_is_refused_by_the_engine_and_parks_the_connection(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect(settings={**DIRECT, "password": WRONG_PASSWORD})

    event = run(smartoffice, connection, published("crm-wrong-password"), until=waiting)

    stored = smartoffice.system.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "parked"
    assert (stored.status_reason or "").startswith(
        "credentials refused: crm: SmartOffice error 2002: Login failed. "
        "(check the connection's office, user and password settings)"
    )
    assert (event.status, event.error_kind) == ("waiting", None)
    assert event.last_error == f"connection is parked: {stored.status_reason}"
    (entry,) = smartoffice.requests()
    assert (entry["codes"], entry["auth"]) == ([2002], None)
    assert smartoffice.smartpads() == []


def test_a_contact_smartoffice_does_not_know_leaves_the_event_dead_with_3001(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()

    event = run(smartoffice, connection, published("crm-gone", contact=MISSING_CONTACT))

    assert event.status == "dead"
    assert event.error_kind == "permanent"
    assert event.attempts == 1
    assert event.last_error is not None
    assert event.last_error.startswith(
        f"crm: SmartOffice error 3001: Object not found: {MISSING_CONTACT}. (HTTP 200)"
    )
    stored = smartoffice.system.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "active"  # one refused write says nothing of the credentials
    assert smartoffice.smartpads() == []
    assert [operations(entry) for entry in smartoffice.requests()] == [["search"], ["insert"]]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1001, "XML syntax error."),
        (4001, "Property not found: SmartPad.Note."),
        (5001, "Unknown function."),
        (6007, "Condition too deep."),
        (7001, "Method not found."),
        (8001, "Sync failed."),
    ],
)
def test_a_permanent_error_leaves_the_event_dead_with_smartoffices_code_and_message(
    smartoffice: SmartOffice, code: int, message: str
) -> None:
    connection = smartoffice.connect()
    smartoffice.fault(code=code, message=message)

    event = run(smartoffice, connection, published(f"crm-permanent-{code}"))

    assert event.status == "dead"
    assert event.error_kind == "permanent"
    assert event.attempts == 1
    assert event.last_error is not None
    assert event.last_error.startswith(f"crm: SmartOffice error {code}: {message} (HTTP 200)")
    assert smartoffice.smartpads() == []
    assert len(smartoffice.requests()) == 1  # nothing sent after the refusal


# --- the API gateway -----------------------------------------------------------------------


def test_gateway_mode_writes_its_smartpad_through_the_gateway_login(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect(settings=GATEWAY)

    event = run(smartoffice, connection, published("crm-gateway"))

    assert event.status == "done", event.last_error
    (pad,) = smartoffice.smartpads()
    assert pad["Note"].endswith(marker(event, "post.tags_synced"))
    log = smartoffice.requests()
    assert [operations(entry) for entry in log] == [["search"], ["insert"]]
    for entry in log:
        assert entry["auth"] == "gateway"
        assert entry["sitename"] == DEMO_SITENAME
        assert entry["username"] == f"{DEMO_SITENAME}_{DEMO_OFFICE}_{DEMO_USER}"
        assert entry["api_key"] == GATEWAY["api_key"]
        # The credentials travel as HTTP headers only: the XML header's are empty.
        assert "office" not in entry
        assert "user" not in entry


# --- what the receiver refuses ----------------------------------------------------------------


def test_a_body_that_maps_to_an_invalid_event_is_a_422_naming_field_and_jsonpath(
    smartoffice: SmartOffice,
) -> None:
    connection = smartoffice.connect()
    body = crm_body("tag_info", post={"id": "", "tags": [{"id": 5}]})

    answer = smartoffice.post(connection, body)

    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "errors": {
            "data.post_id": ["Length must be between 1 and 200. (mapped from $.post.id)"],
            "data.tag_ids.0": ["Not a valid string. (mapped from $.post.tags[*].id)"],
        }
    }
    assert smartoffice.system.store.list_events(connection_id=connection.id) == []
    assert smartoffice.requests() == []


def test_a_body_without_the_connections_token_is_refused(smartoffice: SmartOffice) -> None:
    connection = smartoffice.connect()
    other = smartoffice.connect()

    answer = smartoffice.post(connection, published("crm-token"), token=other.inbound_token)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert smartoffice.system.store.list_events(connection_id=connection.id) == []


# --- the command line ------------------------------------------------------------------------

INVALID_MAPPING = """\
version: 1
inbound:
  type: {path: $.event, map: {social_post_published: post.published}}
  id: $.delivery.id
  fields:
    post_idd: $.post.id
    tag_ids: $.post.tags[*.id
    record.contact_id: $.contact.id
outbound:
  post.tags_synced:
    Notes: {template: "Post {{ post_id }}"}
    Keywords: {template: "{{ x"}
"""


def test_mappings_validate_names_each_error_by_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "smartoffice.yaml"
    path.write_text(INVALID_MAPPING, encoding="utf-8")

    result = socialbridge("mappings", "validate", str(path), "--crm", "smartoffice")

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "line 6: inbound.fields.post_idd: not a field of any event type (did you mean post_id?)"
    )
    assert lines[1].startswith("line 7: inbound.fields.tag_ids: not a valid JSONPath")
    assert lines[2].startswith(
        "line 11: outbound.post.tags_synced.Notes: not a field of this CRM kind; "
        "expected one of: ContactID, Keywords, Note"
    )
    assert lines[3].startswith("line 12: outbound.post.tags_synced.Keywords.template: ")
    assert lines[4] == f"{path}: not a valid mapping (4 problems)"
    assert len(lines) == 5


def test_mappings_preview_shows_the_event_and_the_xml_and_sends_nothing(
    smartoffice: SmartOffice, tmp_path: Path
) -> None:
    connection = smartoffice.connect()
    body = tmp_path / "body.json"
    body.write_text(json.dumps(published("crm-preview")), encoding="utf-8")

    result = smartoffice.cli("mappings", "preview", connection.name, "--event", str(body))

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    lines = out.splitlines()
    assert lines[:2] == ["event:", "  type:      post.published"]
    assert lines[3].startswith('  data:      {"post_id": "crm-preview", "ghl_post_id": ')
    assert lines[3].endswith(f'"record": {{"contact_id": "{DEMO_CONTACT_ID}"}}}}')
    assert (
        "write 1: post.tags_synced (key evt_preview.post.tags_synced, "
        f"record contact_id={DEMO_CONTACT_ID})"
    ) in lines
    url = f"POST {smartoffice.url}/xml"
    assert f"  request 1 (look for a SmartPad an earlier attempt stored): {url}" in lines
    assert f"  request 2 (insert the SmartPad (only when the search finds none)): {url}" in lines
    names = ", ".join(TAG_NAMES[tag_id] for tag_id in DEMO.posts[0].tag_ids)
    # The XML as sent, but for the password: the search for an earlier copy, then the insert.
    assert '<expr prop="Note" op="contains"><v>socialbridge-id: evt_preview.' in out
    assert (
        "<header><office>demo</office><user>agent</user><password>***</password></header>"
        "<insert><SmartPad>"
        f"<ContactID>{DEMO_CONTACT_ID}</ContactID><Keywords>{names}</Keywords>"
        f"<Note>Social post crm-preview is GHL post {DEMO.posts[0].id}."
    ) in out
    assert "      socialbridge-id: evt_preview.post.tags_synced</Note></SmartPad>" in out
    assert GATEWAY["api_key"] not in out  # not the gateway's: this connection logs in directly
    assert DIRECT["password"] not in out
    assert lines[-1] == "note: GHL was read; nothing was stored and nothing was sent to the CRM"
    assert smartoffice.requests() == []
    assert smartoffice.smartpads() == []
    assert smartoffice.system.store.list_events(connection_id=connection.id) == []


# --- secrets -------------------------------------------------------------------------------


def test_no_password_or_key_reaches_a_log_line_or_the_output(
    smartoffice: SmartOffice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    direct = smartoffice.connect()
    gateway = smartoffice.connect(settings=GATEWAY)
    refused = smartoffice.connect(settings={**DIRECT, "password": WRONG_PASSWORD})
    body = tmp_path / "body.json"
    body.write_text(json.dumps(published("crm-secret")), encoding="utf-8")

    events = [
        run(
            smartoffice,
            connection,
            published(f"crm-secret-{number}"),
            until=lambda e: e.status in ("done", "dead", "waiting"),
        )
        for number, connection in enumerate((direct, gateway, refused))
    ]
    # The direct preview's output is checked in the preview test; this one shows the keys.
    preview = smartoffice.cli("mappings", "preview", gateway.name, "--event", str(body))

    # The refused login parks its connection, and that event waits for it.
    assert [event.status for event in events] == ["done", "done", "waiting"]
    assert preview.returncode == 0, preview.stderr
    worker_log = smartoffice.system.worker.log_path.read_text(errors="replace")
    formatter = TextFormatter()
    web_log = "\n".join(formatter.format(record) for record in caplog.records)
    printed = preview.stdout + preview.stderr
    # Each text holds what it should, so an empty one cannot pass for a clean one.
    assert "so.request" in worker_log
    assert "<password>***</password>" in worker_log
    assert "webhook.accepted" in web_log
    assert "sandbox_smartoffice.request" in web_log
    assert "api-key: ***\n" in printed
    assert "api-secret: ***\n" in printed
    tokens = [c.inbound_token for c in (direct, gateway, refused) if c.inbound_token]
    for secret in (*SANDBOX_SECRETS, WRONG_PASSWORD, *tokens):
        assert secret not in worker_log
        assert secret not in web_log
        assert secret not in printed
