"""`socialbridge demo send TYPE`: an event to the running web process, as the connection's
CRM would send it (signed, or with its token and its own body), followed.

demo-ixact's emails go to the sandbox mail server (`MailSandbox`, the one `make run` starts)
over real SMTP, with its seed login."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli import demo
from cli.dev.demo_connections import (
    DEMO_IXACT_SENDER,
    demo_smartoffice_settings,
    demo_smartoffice_url,
    ensure_demo_ixact_connection,
    ensure_demo_smartoffice_connection,
)
from console.demo import DEMO_IXACT_CONTACT_EMAIL, demo_ixact_mapping
from crm.ixact.settings import NOTES_ADDRESS
from crm.registry import load_settings
from sandbox.ghl import DEFAULT_TOKEN
from sandbox.ghl.seed import seed_location
from sandbox.mail.server import MailSandbox
from sandbox.server import ServerThread
from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from sandbox.smartoffice.state import DEMO_CONTACT_ID
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from store import ConnectionRecord
from tests.brokerutil import queued_tasks
from tests.unit.cli.conftest import SECRET_KEY, Cli, lines
from webapp import create_app
from workers.execution import execute_event
from workers.services import Services

DEMO = seed_location("loc_demo")


def settings_of(cli: Cli, **overrides: str) -> Settings:
    values = {key: value for key, value in cli.env.items() if value is not None}
    values.update(overrides)
    return Settings.from_mapping(values)


@contextmanager
def worker(cli: Cli) -> Iterator[None]:
    """What a worker does once the next event is queued: run it through its flow, once."""
    services = Services(settings_of(cli))
    known = {event.id for event in cli.store.list_events()}

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            new = [event for event in cli.store.list_events() if event.id not in known]
            if new:
                execute_event(services, new[0].id)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        services.dispose()


@pytest.fixture
def web(cli: Cli) -> Iterator[str]:
    """The web process the command posts to (PUBLIC_URL points at it)."""
    app = create_app(settings_of(cli))
    with ServerThread(app) as server:
        cli.env["PUBLIC_URL"] = server.url
        yield server.url
    app.extensions["socialbridge"].dispose()
    app.extensions["celery"].close()


def test_send_no_wait_posts_a_signed_event_and_prints_the_answer(cli: Cli, web: str) -> None:
    connection = cli.connection("demo")

    result = cli("demo", "send", "post.published", "--no-wait")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert result.output == f"POST {web}/webhooks/crm/{connection.id}  ->  202 queued {event.id}\n"
    assert event.source == "webhook"
    assert event.webhook_id is not None
    assert event.webhook_id.startswith("msg_")
    data = event.payload["data"]
    assert data["post_id"] == "crm-post-1"
    assert data["ghl_post_id"] == "post_demo_1"
    assert data["title"] == "Open house this Saturday"
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert task.args == [event.id, event.payload]


def test_send_json_no_wait_prints_the_receivers_answer(cli: Cli, web: str) -> None:
    cli.connection("acme")

    connection = cli.store.list_connections()[0]

    result = cli(
        "demo", "send", "statistics.requested", "--connection", "acme", "--no-wait", "--json"
    )

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    # The fields of the plain form's line: URL, HTTP status, event status and id.
    assert json.loads(result.output) == {
        "url": f"{web}/webhooks/crm/{connection.id}",
        "status_code": 202,
        "event_id": event.id,
        "status": "queued",
    }
    assert event.payload["data"] == {}


def test_send_options_shape_the_post_published_data(cli: Cli, web: str) -> None:
    cli.connection("demo")

    result = cli(
        "demo", "send", "post.published", "--post-id", "crm-9", "--ghl-post-id", "", "--no-wait"
    )

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.payload["data"]["post_id"] == "crm-9"
    assert "ghl_post_id" not in event.payload["data"]


def test_tag_details_default_to_the_first_three_tags_of_the_location(cli: Cli, web: str) -> None:
    cli.connection("demo")

    result = cli("demo", "send", "tag.details_requested", "--no-wait")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.payload["data"] == {
        "post_id": "crm-post-1",
        "tag_ids": [tag.id for tag in DEMO.tags[:3]],
    }


def test_tag_details_take_the_given_tag_ids(cli: Cli, web: str) -> None:
    cli.connection("demo")

    result = cli(
        "demo", "send", "tag.details_requested", "--tag-id", "t1", "--tag-id", "t2", "--no-wait"
    )

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.payload["data"]["tag_ids"] == ["t1", "t2"]


def test_send_follows_the_event_until_it_is_done(cli: Cli, web: str) -> None:
    cli.connection("demo")

    with worker(cli):
        result = cli("demo", "send", "post.published", "--timeout", "10")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.status == "done"
    assert lines(result.output)[-1] == (
        "done after 1 attempt. See the write-back on the sandbox CRM page, or: "
        f"socialbridge events show {event.id}"
    )
    assert f"  {event.id}: done (attempt 1)" in lines(result.output)


def test_send_json_follows_the_event_and_prints_its_outcome(cli: Cli, web: str) -> None:
    connection = cli.connection("demo")

    with worker(cli):
        result = cli("demo", "send", "post.published", "--timeout", "10", "--json")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert json.loads(result.output) == {
        "url": f"{web}/webhooks/crm/{connection.id}",
        "status_code": 202,
        "event_id": event.id,
        "status": "done",
        "attempts": 1,
        "last_error": None,
        "error_kind": None,
        "hint": None,
    }


def test_send_of_an_event_that_dies_says_why_in_both_forms(cli: Cli, web: str) -> None:
    # GHL refusing the request itself kills the event: nothing about the connection would fix
    # it. (Refused credentials do not: the event waits for the connection; see
    # test_connections_activate.py.)
    cli.connection("demo")
    cli.ghl_fault(path_contains="/accounts", status=400, times=2)

    with worker(cli):
        human = cli("demo", "send", "statistics.requested", "--timeout", "10")
    with worker(cli):
        machine = cli("demo", "send", "statistics.requested", "--timeout", "10", "--json")

    assert human.exit_code == 1
    assert re.fullmatch(
        r"dead \(permanent\) after 1 attempt: ghl: .*\(HTTP 400\) \[traceId [0-9a-f-]+\]",
        lines(human.output)[-1],
    )
    assert machine.exit_code == 1
    printed = json.loads(machine.output)
    assert (printed["status"], printed["attempts"], printed["error_kind"]) == (
        "dead",
        1,
        "permanent",
    )
    assert printed["last_error"].startswith("ghl: ")


PARKED_HINT = (
    "the event runs once demo is active again: fix the cause (socialbridge connections check "
    "demo tries GHL and the CRM), then: socialbridge connections activate demo (its waiting "
    "events run then)"
)


def test_send_to_a_parked_connection_ends_waiting_with_what_to_do_in_both_forms(
    cli: Cli, web: str
) -> None:
    # The first send meets the revoked token: its attempt parks the connection and waits. The
    # second finds the connection parked already and waits before any attempt. Neither moves
    # until someone acts, so following stops there instead of running into the timeout.
    connection = cli.connection("demo", ghl_token="pit-revoked")

    with worker(cli):
        human = cli("demo", "send", "statistics.requested", "--timeout", "10")
    with worker(cli):
        machine = cli("demo", "send", "statistics.requested", "--timeout", "10", "--json")

    first, second = cli.store.list_events()[::-1]
    assert human.exit_code == 1
    printed = lines(human.output)
    assert re.fullmatch(
        r"waiting: connection is parked: credentials refused: ghl: Invalid JWT \(HTTP 401\) "
        r"\[traceId [0-9a-f-]+\]",
        printed[-2],
    )
    assert printed[-1] == PARKED_HINT
    assert printed[-3].startswith(f"  {first.id}: waiting (attempt 0): connection is parked: ")
    assert machine.exit_code == 1
    assert json.loads(machine.output) == {
        "url": f"{web}/webhooks/crm/{connection.id}",
        "status_code": 202,
        "event_id": second.id,
        "status": "waiting",
        "attempts": 0,
        "last_error": second.last_error,
        "error_kind": None,
        "hint": PARKED_HINT,
    }
    assert (first.status, second.status) == ("waiting", "waiting")
    assert second.last_error is not None
    assert second.last_error.startswith("connection is parked: credentials refused: ghl: ")
    parked = cli.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"


def test_send_to_a_disconnected_oauth_connection_gives_the_install_url(cli: Cli, web: str) -> None:
    connection = cli.connection("demo", ghl_auth="oauth", ghl_token="", location_id="loc_demo")
    cli.store.disconnect_connection(connection.id, "GHL UNINSTALL at 2026-05-01T10:00:00Z")

    with worker(cli):
        result = cli("demo", "send", "post.published", "--timeout", "10", "--json")

    assert result.exit_code == 1
    printed = json.loads(result.output)
    assert (printed["status"], printed["last_error"]) == (
        "waiting",
        "connection is disconnected: GHL UNINSTALL at 2026-05-01T10:00:00Z",
    )
    assert printed["hint"] == (
        "the event runs once demo is active again: authorize it by opening "
        f"{web}/oauth/ghl/start?connection={connection.id} (choose loc_demo and approve); its "
        "waiting events run once the install completes"
    )


def test_send_without_a_worker_gives_up_after_the_timeout(cli: Cli, web: str) -> None:
    cli.connection("demo")

    result = cli("demo", "send", "statistics.requested", "--timeout", "0.2")

    assert result.exit_code == 1
    [event] = cli.store.list_events()
    assert f"  {event.id}: queued (attempt 0)" in lines(result.stdout)
    assert lines(result.stderr)[-1] == (
        f"Error: {event.id} is still queued after 0.2 s; is a worker running?"
    )


def test_send_reports_a_refusal_and_exits_1(cli: Cli) -> None:
    connection = cli.connection("demo")
    # The web process runs, but its Redis does not: the receiver answers 503.
    app = create_app(settings_of(cli, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    with ServerThread(app) as server:
        url = server.url
        human = cli("demo", "send", "post.published", PUBLIC_URL=url)
        machine = cli("demo", "send", "post.published", "--json", PUBLIC_URL=url)
    app.extensions["celery"].close()
    app.extensions["socialbridge"].dispose()

    assert human.exit_code == 1
    assert human.output == (
        f"POST {url}/webhooks/crm/{connection.id}  ->  503 unavailable: The queue is "
        "unavailable; retry later.\n"
    )
    assert machine.exit_code == 1
    assert json.loads(machine.output) == {
        "url": f"{url}/webhooks/crm/{connection.id}",
        "status_code": 503,
        "answer": {"error": "unavailable", "message": "The queue is unavailable; retry later."},
    }
    assert cli.store.list_events() == []


def test_send_to_a_web_process_that_is_not_running_says_so(cli: Cli) -> None:
    connection = cli.connection("demo")
    url = f"http://127.0.0.1:{free_port()}"

    result = cli("demo", "send", "post.published", PUBLIC_URL=url)

    assert result.exit_code == 1
    message = lines(result.stderr)[-1]
    assert message.startswith(f"Error: could not reach {url}/webhooks/crm/{connection.id}: ")
    assert message.endswith("Is `make run` running?")


def test_send_needs_a_known_type_and_connection(cli: Cli) -> None:
    bad_type = cli("demo", "send", "post.deleted")
    bad_connection = cli("demo", "send", "post.published", "--connection", "nope")

    assert bad_type.exit_code == 2
    assert "Invalid value for 'TYPE'" in bad_type.stderr
    assert bad_connection.exit_code == 2
    assert "no connection 'nope'" in bad_connection.stderr


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("0", "0.0 is not in the range 0<x<=3600."),
        ("-1", "-1.0 is not in the range 0<x<=3600."),
        ("3601", "3601.0 is not in the range 0<x<=3600."),
        ("inf", "inf is not in the range 0<x<=3600."),
        ("nan", "'nan' is not a number of seconds"),
        ("soon", "'soon' is not a valid float range."),
    ],
)
def test_send_timeout_must_be_more_than_0_and_at_most_an_hour(
    cli: Cli, timeout: str, message: str
) -> None:
    cli.connection("demo")

    result = cli("demo", "send", "post.published", "--timeout", timeout)

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == f"Error: Invalid value for '--timeout': {message}"
    assert cli.store.list_events() == []


# --- token connections, mappings and --body ----------------------------------------------

# The example mapping: a CRM body `demo send` knows nothing about.
OTHER_MAPPING = """\
version: 1
inbound:
  type: {path: $.event, map: {social_post_published: post.published}}
  id: $.delivery.id
  fields:
    post_id: $.post.id
    record.contact_id: $.contact.id
"""


@pytest.fixture(scope="module")
def smartoffice_url() -> Iterator[str]:
    """The SmartOffice sandbox the smartoffice connections write to."""
    with ServerThread(create_sandbox_smartoffice_app()) as server:
        yield server.url


def demo_smartoffice(cli: Cli, smartoffice_url: str) -> str:
    """`make run`'s demo-smartoffice connection, made as `make run` makes it; its id."""
    made = ensure_demo_smartoffice_connection(
        cli.env["DATABASE_URL"] or "", SECRET_KEY, demo_smartoffice_url(smartoffice_url)
    )
    return made.id


def smartoffice_connection(cli: Cli, name: str, mapping: str) -> ConnectionRecord:
    return cli.store.create_connection(
        name=name,
        location_id=DEMO.location_id,
        ghl_token=DEFAULT_TOKEN,
        crm_url="http://smartoffice.test/xml",
        crm_kind="smartoffice",
        crm_settings=demo_smartoffice_settings(),
        inbound_auth="token",
        mapping=mapping,
    )


def smartpads(smartoffice_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{smartoffice_url}/_sandbox/smartpads")
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def test_send_to_demo_smartoffice_posts_its_crms_body_with_the_token(
    cli: Cli, web: str, smartoffice_url: str
) -> None:
    connection_id = demo_smartoffice(cli, smartoffice_url)

    result = cli("demo", "send", "post.published", "--connection", "demo-smartoffice", "--no-wait")

    # A signed request would be refused (401): the receiver took the Bearer token.
    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert result.output == (
        f"POST {web}/webhooks/crm/{connection_id}  ->  202 queued {event.id}\n"
    )
    assert event.payload["type"] == "post.published"
    assert event.payload["data"] == {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "title": "Open house this Saturday",
        "record": {"contact_id": DEMO_CONTACT_ID},
    }
    # The delivery key is the mapping's id: the body's request_id.
    assert event.webhook_id is not None
    assert re.fullmatch(r"id:req_[0-9a-f]{16}", event.webhook_id)


def test_two_sends_to_demo_smartoffice_are_two_events(
    cli: Cli, web: str, smartoffice_url: str
) -> None:
    demo_smartoffice(cli, smartoffice_url)

    for _ in range(2):
        result = cli("demo", "send", "tag.details_requested", "--connection",
                     "demo-smartoffice", "--no-wait")  # fmt: skip
        assert result.exit_code == 0, result.output

    events = cli.store.list_events()
    assert len(events) == 2
    assert len({event.webhook_id for event in events}) == 2
    for event in events:
        assert event.payload["data"]["tag_ids"] == [tag.id for tag in DEMO.tags[:3]]
        assert event.payload["data"]["record"] == {"contact_id": DEMO_CONTACT_ID}


def test_send_to_demo_smartoffice_waits_for_its_smartpad(
    cli: Cli, web: str, smartoffice_url: str
) -> None:
    demo_smartoffice(cli, smartoffice_url)
    before = len(smartpads(smartoffice_url))

    with worker(cli):
        result = cli(
            "demo", "send", "post.published", "--connection", "demo-smartoffice", "--timeout", "10"
        )

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert lines(result.output)[-1] == (
        "done after 1 attempt. See the SmartPad on the SmartOffice sandbox page, or: "
        f"socialbridge events show {event.id}"
    )
    [pad] = smartpads(smartoffice_url)[before:]
    assert pad["ContactID"] == DEMO_CONTACT_ID
    # The shipped mapping's Keywords and Note, then the connector's marker line.
    assert pad["Note"].startswith("Social post crm-post-1 is live as GHL post post_demo_1.\n")
    assert f"socialbridge-id: {event.id}" in pad["Note"]


def test_send_to_another_mapped_connection_asks_for_a_body(cli: Cli, web: str) -> None:
    smartoffice_connection(cli, "acme-so", OTHER_MAPPING)

    result = cli("demo", "send", "post.published", "--connection", "acme-so")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: acme-so has a mapping of its own, so `demo send` cannot know the body its CRM "
        "sends: send one with --body FILE (JSON, sent as it is; '-': standard input)"
    )
    assert cli.store.list_events() == []


def test_send_body_file_to_a_mapped_connection_sends_it_as_is(
    cli: Cli, web: str, tmp_path: Path
) -> None:
    connection = smartoffice_connection(cli, "acme-so", OTHER_MAPPING)
    sent = (
        '{"event": "social_post_published", "delivery": {"id": "d-1"},\n'
        ' "post": {"id": "crm-9"}, "contact": {"id": "Contact.1.7"}}'
    )
    (tmp_path / "body.json").write_text(sent)

    first = cli("demo", "send", "--body", "body.json", "--connection", "acme-so", "--no-wait")
    again = cli("demo", "send", "--body", "body.json", "--connection", "acme-so", "--no-wait")

    assert first.exit_code == 0, first.output
    [event] = cli.store.list_events()
    assert first.output == (f"POST {web}/webhooks/crm/{connection.id}  ->  202 queued {event.id}\n")
    assert event.payload["data"]["post_id"] == "crm-9"
    assert event.payload["data"]["record"] == {"contact_id": "Contact.1.7"}
    assert event.webhook_id == "id:d-1"
    # The same body again is the same delivery.
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0].endswith(f"200 duplicate {event.id}")


def test_send_body_from_stdin_to_a_signed_connection(cli: Cli, web: str) -> None:
    cli.connection("demo")
    sent = json.dumps(
        {
            "type": "post.published",
            "timestamp": "2026-11-23T10:00:00Z",
            "data": {"post_id": "crm-42", "title": "From a file"},
        }
    )

    result = cli("demo", "send", "--body", "-", "--no-wait", "--json", input=sent)

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert json.loads(result.output)["event_id"] == event.id
    assert event.payload["data"]["post_id"] == "crm-42"
    assert event.payload["data"]["title"] == "From a file"
    assert event.webhook_id is not None
    assert event.webhook_id.startswith("msg_")  # signed: Standard Webhooks headers


def test_send_body_must_be_json(cli: Cli, tmp_path: Path) -> None:
    cli.connection("demo")
    (tmp_path / "body.json").write_text("{not json")

    result = cli("demo", "send", "--body", "body.json")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1].startswith(
        "Error: Invalid value for '--body': body.json: not JSON: "
    )
    assert cli.store.list_events() == []


def test_send_body_refuses_the_options_that_shape_a_made_body(cli: Cli, tmp_path: Path) -> None:
    cli.connection("demo")
    (tmp_path / "body.json").write_text("{}")

    result = cli("demo", "send", "post.published", "--body", "body.json", "--post-id", "x")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: --body sends the file as it is: 'TYPE', '--post-id' cannot shape it"
    )


def test_send_needs_a_type_or_a_body(cli: Cli) -> None:
    cli.connection("demo")

    result = cli("demo", "send")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: give TYPE, or --body FILE to send a body of your own"


# --- demo-ixact: emails on the sandbox mail server -----------------------------------------

DEMO_RECORD = {"contact_email": DEMO_IXACT_CONTACT_EMAIL, "first_name": "Ann", "last_name": "Lee"}
SUBJECTS = {
    "post.published": 'GHL tags for "Open house this Saturday"',
    "tag.details_requested": 'GHL tag details for "Open house this Saturday"',
}


@pytest.fixture(scope="module")
def mail() -> Iterator[MailSandbox]:
    """The sandbox mail server demo-ixact sends through (loopback, its seed login)."""
    with MailSandbox() as server:
        yield server


def demo_ixact(cli: Cli, mail: MailSandbox) -> str:
    """`make run`'s demo-ixact connection, made as `make run` makes it; its id."""
    made = ensure_demo_ixact_connection(cli.env["DATABASE_URL"] or "", SECRET_KEY, mail.smtp_port)
    return made.id


def test_send_to_demo_ixact_posts_what_an_automation_would_with_the_token(
    cli: Cli, web: str, mail: MailSandbox
) -> None:
    connection_id = demo_ixact(cli, mail)

    result = cli("demo", "send", "post.published", "--connection", "demo-ixact", "--no-wait")

    # A signed request would be refused (401): the receiver took the Bearer token.
    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert result.output == f"POST {web}/webhooks/crm/{connection_id}  ->  202 queued {event.id}\n"
    assert event.payload["type"] == "post.published"
    assert event.payload["data"] == {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "title": "Open house this Saturday",
        "record": {**DEMO_RECORD, "title": "Open house this Saturday"},
    }
    assert event.webhook_id is not None
    assert re.fullmatch(r"id:req_[0-9a-f]{16}", event.webhook_id)


def test_two_sends_to_demo_ixact_are_two_events(cli: Cli, web: str, mail: MailSandbox) -> None:
    demo_ixact(cli, mail)

    for _ in range(2):
        result = cli("demo", "send", "tag.details_requested", "--connection", "demo-ixact",
                     "--no-wait")  # fmt: skip
        assert result.exit_code == 0, result.output

    events = cli.store.list_events()
    assert len(events) == 2
    assert len({event.webhook_id for event in events}) == 2
    for event in events:
        assert event.payload["data"]["tag_ids"] == [tag.id for tag in DEMO.tags[:3]]
        assert event.payload["data"]["record"]["contact_email"] == DEMO_IXACT_CONTACT_EMAIL


@pytest.mark.parametrize("event_type", ["post.published", "tag.details_requested",
                                        "statistics.requested"])  # fmt: skip
def test_each_send_to_demo_ixact_lands_one_email_on_the_mail_sandbox(
    cli: Cli, web: str, mail: MailSandbox, event_type: str
) -> None:
    demo_ixact(cli, mail)
    before = len(mail.messages())

    with worker(cli):
        result = cli("demo", "send", event_type, "--connection", "demo-ixact", "--timeout", "10")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert lines(result.output)[-1] == (
        "done after 1 attempt. See the email on the mail sandbox page, or: "
        f"socialbridge events show {event.id}"
    )
    [email] = mail.messages()[before:]
    # From the demo's authorized sender, filed under the demo contact, received by IXACT's
    # capture address alone.
    assert email["from"] == DEMO_IXACT_SENDER
    assert email["to"] == DEMO_IXACT_CONTACT_EMAIL
    assert email["cc"] is None
    assert email["envelope_to"] == [NOTES_ADDRESS]
    assert email["envelope_from"] == DEMO_IXACT_SENDER
    if event_type in SUBJECTS:
        assert email["subject"] == SUBJECTS[event_type]
    else:
        assert re.fullmatch(r"GHL statistics \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d", email["subject"])
    [write] = cli.store.list_writes(event.connection_id)
    assert email["text"].rstrip().endswith(f"socialbridge-id: {write.idempotency_key}")
    assert write.idempotency_key.startswith(f"{event.id}.")
    assert write.status == "sent"


def test_send_to_a_connection_with_the_shipped_ixact_mapping_but_another_name(
    cli: Cli, web: str, mail: MailSandbox
) -> None:
    # The body is chosen by the mapping, not by the connection's name.
    connection = cli.store.create_connection(
        name="my-ixact",
        location_id=DEMO.location_id,
        ghl_token=DEFAULT_TOKEN,
        crm_kind="ixact",
        crm_settings=load_settings(
            "ixact",
            {
                "smtp_host": "127.0.0.1",
                "smtp_port": mail.smtp_port,
                "smtp_security": "none",
                "sender": DEMO_IXACT_SENDER,
            },
        ),
        inbound_auth="token",
        mapping=demo_ixact_mapping(),
    )

    result = cli("demo", "send", "statistics.requested", "--connection", "my-ixact", "--no-wait")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.connection_id == connection.id
    assert event.payload["data"] == {"record": DEMO_RECORD}


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "the email on the mail sandbox page"),
        ("localhost", "the email on the mail sandbox page"),
        (
            "smtp.example.com",
            "the email in the contact's Contact History in IXACT (or in Unassigned Emails)",
        ),
    ],
)
def test_a_done_ixact_event_points_at_the_sandbox_only_for_a_loopback_mail_server(
    cli: Cli, host: str, shown: str
) -> None:
    security = "none" if host != "smtp.example.com" else "starttls"
    connection = cli.store.create_connection(
        name="an-ixact",
        location_id=DEMO.location_id,
        ghl_token=DEFAULT_TOKEN,
        crm_kind="ixact",
        crm_settings=load_settings(
            "ixact", {"smtp_host": host, "smtp_security": security, "sender": DEMO_IXACT_SENDER}
        ),
        inbound_auth="token",
    )

    assert demo._where_it_shows(connection) == shown
