"""The connections pages in Chromium: create a connection, send it a test event, delete it;
a viewer refused; no error in the browser's console.

No Celery worker runs beside this web app, so the test event is seen recorded and ``queued``
(the receiver's answer and the event log both say so), not ``done``: running it to ``done``
needs a worker and the GHL and CRM sandboxes, which test_live_event.py has.

`make screenshots` writes the pages' pictures into docs/screenshots/ (the `screenshots`
fixture), for docs/console.md.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from store import EventStatus
from tests.browser.conftest import (
    ADMIN_EMAIL,
    VIEWER_EMAIL,
    Console,
    ConsoleErrors,
    Screenshots,
)


def _create(page: Page, console: Console, name: str = "acme") -> str:
    """Create a webhook connection with the form; the new connection's id."""
    page.goto(f"{console.url}/connections")
    page.click("text=New connection")
    page.fill("#name", name)
    page.fill("#location_id", "loc_acme")
    page.fill("#ghl_token", "pit-acme-token")
    page.fill("#crm_url", "https://crm.example/hooks/acme")
    page.click("form.connection-form button[type=submit]")
    expect(page.locator("h1")).to_have_text(name)
    record = console.store.find_connection(name)
    assert record is not None
    return record.id


def test_an_admin_creates_a_connection_and_sends_it_a_test_event(
    page: Page, console: Console, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    console.sign_in(page, ADMIN_EMAIL)
    page.goto(f"{console.url}/connections/new")
    screenshots.take(page, "connection-form")

    connection_id = _create(page, console)

    record = console.store.get_connection(connection_id)
    assert record is not None
    # The CRM's webhook secret, shown this once, and the webhook URL with its example.
    expect(page.locator("#revealed-credential")).to_have_text(record.webhook_secrets[0])
    # Built from PUBLIC_URL (not set here: its default), as the CLI prints it.
    expect(page.locator("#webhook-url")).to_have_text(re.compile(f"/webhooks/crm/{connection_id}$"))
    expect(page.locator("#signing-example")).to_contain_text("webhook-signature: v1,$SIG")

    page.select_option("#event_type", "post.published")
    page.click("form.test-event button[type=submit]")

    expect(page.locator("#test-result")).to_have_text("Test event: 202 queued")
    (event,) = console.store.list_events(connection_id=connection_id)
    expect(page.locator("#test-event-id")).to_have_text(event.id)
    # Recorded and queued; no worker runs here, so it stays queued (see the docstring).
    assert event.status == EventStatus.QUEUED
    expect(page.locator("table.events td.queued")).to_have_count(1)
    screenshots.take(page, "connection")
    page.goto(f"{console.url}/connections")
    screenshots.take(page, "connections")
    assert errors.messages == []


def test_a_refused_form_shows_the_problem_at_its_field(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    console.sign_in(page, ADMIN_EMAIL)
    page.goto(f"{console.url}/connections/new?kind=smartoffice")
    page.fill("#name", "so")
    page.fill("#location_id", "loc_so")
    page.fill("#ghl_token", "pit-so")
    page.fill("#crm_url", "https://so.example/xml")
    page.fill("#setting-office", "Main")
    page.click("form.connection-form button[type=submit]")

    expect(page.locator("#problem-crm_settings-password")).to_have_text(
        "Required with auth=direct."
    )
    expect(page.locator("#setting-office")).to_have_value("Main")
    assert console.store.find_connection("so") is None
    # The refused form is answered 400, which Chromium reports; nothing else may be.
    (message,) = errors.messages
    assert "status of 400" in message
    assert f"{console.url}/connections'" in message


def test_delete_asks_first(page: Page, console: Console, errors: ConsoleErrors) -> None:
    console.sign_in(page, ADMIN_EMAIL)
    connection_id = _create(page, console)

    page.click("text=Delete…")
    page.fill("#confirm_name", "acme")
    page.click("form.confirm-delete button[type=submit]")

    expect(page.locator(".notice")).to_have_text("Deleted acme with its event log and records.")
    assert console.store.get_connection(connection_id) is None
    assert errors.messages == []


def test_a_viewer_sees_the_connection_but_is_refused_a_change(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    record = console.store.create_connection(
        name="acme", location_id="loc_acme", ghl_token="pit", crm_url="http://crm.example/a"
    )
    console.sign_in(page, VIEWER_EMAIL)
    page.goto(f"{console.url}/connections/{record.id}")
    expect(page.locator("h1")).to_have_text("acme")
    expect(page.locator("form.test-event")).to_have_count(0)
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value")
    assert token

    # What the admin's buttons would send, with the viewer's own valid CSRF token.
    for action in ("rotate", "test-event"):
        answer = page.request.post(
            f"{console.url}/connections/{record.id}/{action}",
            form={"csrf_token": token, "event_type": "post.published"},
        )
        assert answer.status == 403, action
    assert console.store.list_events(connection_id=record.id) == []
    after = console.store.get_connection(record.id)
    assert after is not None
    assert after.webhook_secrets == record.webhook_secrets
    assert errors.messages == []
