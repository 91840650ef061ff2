"""`socialbridge demo send TYPE`: a signed event to the running web process, followed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox.ghl.seed import seed_location
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from tests.brokerutil import queued_tasks
from tests.unit.socialbridge.cli.conftest import Cli, lines
from webapp import create_app
from workers.execution import execute_event
from workers.services import Services

DEMO = seed_location("loc_demo")


def settings_of(cli: Cli, **overrides: str) -> Settings:
    values = {key: value for key, value in cli.env.items() if value is not None}
    values.update(overrides)
    return Settings.from_mapping(values)


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
    assert result.output == (
        f"POST {web}/webhooks/crm/{connection.id}  ->  202 "
        f"{ {'event_id': event.id, 'status': 'queued'} }\n"
    )
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

    result = cli(
        "demo", "send", "statistics.requested", "--connection", "acme", "--no-wait", "--json"
    )

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert json.loads(result.output) == {"event_id": event.id, "status": "queued"}
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
    services = Services(settings_of(cli))

    def worker() -> None:
        # What a worker does once the event is queued: run it through its flow.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            events = cli.store.list_events()
            if events:
                execute_event(services, events[0].id)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=worker)
    thread.start()
    result = cli("demo", "send", "post.published", "--timeout", "10")
    thread.join()
    services.dispose()

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.status == "done"
    assert lines(result.output)[-1] == (
        f"done. See the write-back on the sandbox CRM page, or: socialbridge events show {event.id}"
    )
    assert f"  {event.id}: done (attempt 1)" in lines(result.output)


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
    assert re.fullmatch(
        rf"POST {re.escape(url)}/webhooks/crm/{connection.id}  ->  503 .*queue is "
        r"unavailable.*",
        lines(human.output)[0],
    )
    assert machine.exit_code == 1
    assert json.loads(machine.output) == {
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
