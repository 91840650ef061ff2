"""The overview and the events pages in Chromium: the overview refreshes itself, events are
filtered, a dead event is replayed; no errors in the browser's console."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from store import ConnectionRecord, EventRecord
from tests.browser.conftest import ADMIN_EMAIL, VIEWER_EMAIL, Console, ConsoleErrors, Screenshots
from webapp.ui import REFRESH_SECONDS


def _connection(console: Console, name: str) -> ConnectionRecord:
    return console.store.create_connection(
        name=name, location_id=f"loc_{name}", ghl_token="pit-token", crm_url="http://crm.test/x"
    )


def _event(
    console: Console, connection: ConnectionRecord, status: str = "queued", **data: str
) -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1", **data}}
    event, _ = console.store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    if status == "dead":
        event = console.store.mark_dead(event.id, "ghl: 422 the post is gone", "permanent")
    elif status == "done":
        console.store.start_attempt(event.id, None, lease_seconds=20)
        event = console.store.mark_done(event.id)
    return event


def test_the_overview_refreshes_itself_without_a_reload(
    page: Page, console: Console, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    acme = _connection(console, "acme")
    parked = _connection(console, "harbour")
    _event(console, acme, "done")
    _event(console, acme, "dead")
    console.store.park_connection(parked.id, "GHL refused the token (HTTP 401)")
    console.sign_in(page, ADMIN_EMAIL)
    # The page's timers run on a clock the test moves: no waiting, and no test that
    # depends on how fast the machine is.
    page.clock.install()
    page.goto(f"{console.url}/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(f"#connection-{parked.id} .state")).to_contain_text(
        "GHL refused the token (HTTP 401)"
    )
    expect(page.locator("#total-queued")).to_have_text("0")
    screenshots.take(page, "overview")
    # A marker on the page itself: a reload would lose it, a swapped fragment keeps it.
    page.evaluate("document.body.dataset.sameDocument = 'yes'")

    _event(console, acme)
    page.clock.run_for(REFRESH_SECONDS * 1000 + 1000)

    expect(page.locator("#total-queued")).to_have_text("1")
    expect(page.locator("#queue-depth")).not_to_have_text("")
    assert page.evaluate("document.body.dataset.sameDocument") == "yes"
    assert errors.messages == []


def test_filtering_the_events(
    page: Page, console: Console, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    acme = _connection(console, "acme")
    zeta = _connection(console, "zeta")
    dead = _event(console, acme, "dead")
    done = _event(console, acme, "done")
    other = _event(console, zeta, "dead")
    console.sign_in(page, ADMIN_EMAIL)
    page.goto(f"{console.url}/events")
    for event in (dead, done, other):
        expect(page.locator(f"a[href='/events/{event.id}']")).to_have_count(1)
    screenshots.take(page, "events")

    page.select_option("#f-connection", label="acme")
    page.select_option("#f-status", "dead")
    page.click("form.filter button[type=submit]")

    expect(page.locator(f"a[href='/events/{dead.id}']")).to_have_count(1)
    expect(page.locator(f"a[href='/events/{done.id}']")).to_have_count(0)
    expect(page.locator(f"a[href='/events/{other.id}']")).to_have_count(0)
    expect(page.locator("#f-status")).to_have_value("dead")
    assert errors.messages == []


def test_an_admin_replays_a_dead_event_and_sees_it_queued(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    acme = _connection(console, "acme")
    dead = _event(console, acme, "dead", title="Open house this Saturday")
    console.sign_in(page, ADMIN_EMAIL)
    page.goto(f"{console.url}/events/{dead.id}")
    expect(page.locator("#event-status")).to_have_text("dead")
    # Its picture in docs/console.md comes from test_live_event.py: a real event's attempts.
    expect(page.locator("pre.payload")).to_contain_text("Open house this Saturday")

    page.click("text=Replay this event")

    expect(page.locator("#event-status")).to_have_text("queued")
    expect(page.locator(".notice")).to_contain_text("Replayed: queued again as task")
    replayed = console.store.get_event(dead.id)
    assert replayed is not None
    assert replayed.status == "queued"
    assert replayed.replays == 1
    assert errors.messages == []


def test_a_viewer_has_no_replay_button(page: Page, console: Console, errors: ConsoleErrors) -> None:
    dead = _event(console, _connection(console, "acme"), "dead")
    console.sign_in(page, VIEWER_EMAIL)
    page.goto(f"{console.url}/events/{dead.id}")

    expect(page.locator("#event-status")).to_have_text("dead")
    expect(page.get_by_role("button", name="Replay this event")).to_have_count(0)
    expect(page.locator("text=An admin may replay this event.")).to_have_count(1)
    assert errors.messages == []
