"""`socialbridge demo send TYPE`: a signed event to the running web process, followed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sandbox.ghl.seed import seed_location
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from tests.brokerutil import queued_tasks
from tests.unit.cli.conftest import Cli, lines
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
    }


def test_send_of_an_event_that_dies_says_why_in_both_forms(cli: Cli, web: str) -> None:
    cli.connection("demo", ghl_token="pit-revoked")

    with worker(cli):
        human = cli("demo", "send", "statistics.requested", "--timeout", "10")
    [event] = cli.store.list_events()
    cli.store.activate_connection(event.connection_id)  # parked by the refusal
    with worker(cli):
        machine = cli("demo", "send", "statistics.requested", "--timeout", "10", "--json")

    assert human.exit_code == 1
    assert re.fullmatch(
        r"dead \(auth\) after 1 attempt: ghl: Invalid JWT \(HTTP 401\) \[traceId [0-9a-f-]+\]",
        lines(human.output)[-1],
    )
    assert machine.exit_code == 1
    printed = json.loads(machine.output)
    assert (printed["status"], printed["attempts"], printed["error_kind"]) == ("dead", 1, "auth")
    assert printed["last_error"].startswith("ghl: Invalid JWT (HTTP 401)")


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
