"""Events from the console run for real: the whole system behind Chromium.

The `live_console` fixture serves the console over a real port with the sandbox GHL and CRM
on real HTTP and a real `celery worker` subprocess consuming its queue. The test works the
pages as an operator does: it creates a connection with the form, sends a test event from the
connection's page and watches the event's page until it says ``done``; then it makes an event
go dead under a lasting GHL fault, finds it in the events list, clears the fault, replays it
from its page and watches it reach ``done``. What the sandboxes received is read back from
their inspection endpoints.
"""

from __future__ import annotations

import secrets
import time

from playwright.sync_api import Page, expect

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN
from sandbox.ghl.seed import seed_location
from socialbridge.inbound_auth import new_webhook_secret
from store import ConnectionRecord
from tests.browser.conftest import (
    ADMIN_EMAIL,
    LIVE_MAX_ATTEMPTS,
    ConsoleErrors,
    LiveConsole,
    Screenshots,
)

DEMO = seed_location(DEFAULT_LOCATION)
# How long an event may take to reach a final status: the worker runs it within a second or
# two (retries wait fractions of a second, QUICK_TIMINGS), this is the generous bound.
RUN_TIMEOUT_S = 45.0
# Each look at the event's page waits this long for the status before the page is opened again.
LOOK_MS = 1_000


def _create_connection(page: Page, live: LiveConsole, name: str) -> ConnectionRecord:
    """Open an account on the sandbox CRM and create the connection to it with the form, as an
    operator would with the secret their CRM gave them; the stored connection."""
    account = f"acct_{secrets.token_hex(4)}"  # the sandbox keeps accounts across tests
    secret = new_webhook_secret()
    live.system.crm_account(account, secret)

    page.goto(f"{live.console.url}/connections")
    page.get_by_role("link", name="New connection").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Location id", exact=True).fill(DEFAULT_LOCATION)
    page.get_by_label("Private Integration token", exact=True).fill(DEFAULT_TOKEN)
    page.get_by_label("CRM URL", exact=True).fill(f"{live.system.crm_url}/hooks/{account}")
    page.get_by_label("secret", exact=True).fill(secret)
    page.get_by_role("button", name="Create").click()

    expect(page.locator("h1")).to_have_text(name)
    record = live.console.store.find_connection(name)
    assert record is not None
    return record


def _send_test_event(page: Page, post_id: str, ghl_post_id: str) -> str:
    """Send a post.published with the form of the open connection page; the recorded event's
    id."""
    page.get_by_label("Type", exact=True).select_option("post.published")
    page.get_by_label("CRM post id", exact=True).fill(post_id)
    page.get_by_label("GHL post id", exact=True).fill(ghl_post_id)
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#test-result")).to_have_text("Test event: 202 queued")
    event_id = page.locator("#test-event-id").inner_text()
    assert event_id
    return event_id


def _watch_status(page: Page, live: LiveConsole, event_id: str, status: str) -> None:
    """Look at the event's page (open) until its status reads ``status``, opening it again
    between looks; fail with the worker's log after RUN_TIMEOUT_S."""
    shown = page.locator("#event-status")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        try:
            expect(shown).to_have_text(status, timeout=LOOK_MS)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the event's page still says {shown.inner_text()!r}, not {status!r}\n"
                    f"--- worker log ---\n{live.system.worker.log_tail()}"
                ) from None
            # A GET of the event's own address: a reload could send a form again.
            page.goto(f"{live.console.url}/events/{event_id}")


def test_a_test_event_sent_from_the_connections_page_reaches_done(
    page: Page, live_console: LiveConsole, errors: ConsoleErrors
) -> None:
    live = live_console
    post = DEMO.posts[0]
    live.console.sign_in(page, ADMIN_EMAIL)
    connection = _create_connection(page, live, "harbour")
    # A Private Integration token's connection is active from the start: nothing to activate.
    expect(page.locator("#connection-status")).to_have_text("active")
    expect(page.get_by_role("button", name="Activate")).to_have_count(0)

    event_id = _send_test_event(page, "crm-live-1", post.id)
    page.goto(f"{live.console.url}/events/{event_id}")
    _watch_status(page, live, event_id, "done")

    # The page shows what was written back, and the CRM has it: the post's GHL id and tags.
    expect(page.get_by_role("cell", name=post.id, exact=True)).to_have_count(1)
    record = live.system.crm_get(connection, "posts/crm-live-1")
    assert record["ghl_post_id"] == post.id
    assert [t["id"] for t in record["post_tags"]] == list(post.tag_ids)
    assert [d["outcome"] for d in live.system.crm_deliveries(connection)] == ["stored"]
    assert errors.messages == []


def test_an_event_dead_under_a_ghl_fault_is_replayed_from_its_page_to_done(
    page: Page, live_console: LiveConsole, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    live = live_console
    post = DEMO.posts[1]
    live.console.sign_in(page, ADMIN_EMAIL)
    connection = _create_connection(page, live, "lakeside")
    # GHL answers 500 for the post however often it is asked: the event dies after
    # LIVE_MAX_ATTEMPTS attempts, and the CRM is sent nothing.
    live.system.ghl_fault(path_contains=f"/posts/{post.id}", status=500, times=50)

    event_id = _send_test_event(page, "crm-live-2", post.id)
    page.goto(f"{live.console.url}/events/{event_id}")
    _watch_status(page, live, event_id, "dead")
    assert live.system.crm_deliveries(connection) == []

    # The events list, filtered to the dead, has it with its attempts and why it died.
    page.goto(f"{live.console.url}/events")
    page.get_by_label("Status", exact=True).select_option("dead")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=event_id))
    expect(row.get_by_role("cell", name="dead", exact=True)).to_have_count(1)
    expect(row.get_by_role("cell", name=str(LIVE_MAX_ATTEMPTS), exact=True)).to_have_count(1)
    expect(row).to_contain_text(f"gave up after {LIVE_MAX_ATTEMPTS} attempts: ghl:")

    # GHL is well again; the replay from the event's page runs it to done.
    live.system.clear_faults()
    row.get_by_role("link", name=event_id).click()
    expect(page.locator("#event-status")).to_have_text("dead")
    page.get_by_role("button", name="Replay this event").click()
    _watch_status(page, live, event_id, "done")
    # Its page lists every attempt: those GHL failed, then the replay's, which wrote back.
    outcomes = page.locator("#attempts tbody tr td:nth-child(4)")
    expect(outcomes).to_have_text(["retrying"] * (LIVE_MAX_ATTEMPTS - 1) + ["dead", "done"])
    expect(page.locator("#attempts tbody tr").first).to_contain_text("ghl:")
    screenshots.take(page, "event-attempts")

    replayed = live.console.store.get_event(event_id)
    assert replayed is not None
    assert replayed.replays == 1
    record = live.system.crm_get(connection, "posts/crm-live-2")
    assert record["ghl_post_id"] == post.id
    assert [d["outcome"] for d in live.system.crm_deliveries(connection)] == ["stored"]
    post_answers = [
        r["response_status"] for r in live.system.ghl_journal() if f"/posts/{post.id}" in r["path"]
    ]
    assert post_answers == [500] * LIVE_MAX_ATTEMPTS + [200]
    assert errors.messages == []
