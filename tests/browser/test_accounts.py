"""Signing in to the console, its protections, and the account page's API tokens, in Chromium."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from console.signin import LOCK_AFTER
from tests.browser.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    VIEWER_EMAIL,
    Console,
    ConsoleErrors,
    Screenshots,
)


def _csrf_token(page: Page) -> str:
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value")
    assert token
    return token


def test_a_visitor_signs_in_and_reaches_the_overview(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/")
    expect(page).to_have_url(f"{console.url}/signin?next=/")

    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")

    expect(page).to_have_url(f"{console.url}/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(".who")).to_have_text(f"{ADMIN_EMAIL} (admin)")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{console.url}/signin")
    page.goto(f"{console.url}/users")
    expect(page).to_have_url(f"{console.url}/signin?next=/users")


def test_a_wrong_password_is_refused(page: Page, console: Console) -> None:
    console.sign_in(page, ADMIN_EMAIL, "not the password")

    expect(page.locator("#signin-problem")).to_have_text("Wrong email or password.")
    expect(page.locator(".who")).to_have_count(0)
    page.goto(f"{console.url}/")
    expect(page).to_have_url(f"{console.url}/signin?next=/")


def test_ten_failures_lock_the_account_even_for_the_right_password(
    page: Page, console: Console
) -> None:
    for _ in range(LOCK_AFTER):
        console.sign_in(page, ADMIN_EMAIL, "not the password")

    console.sign_in(page, ADMIN_EMAIL)

    expect(page.locator("#signin-problem")).to_contain_text("This account is locked")
    expect(page).to_have_url(f"{console.url}/signin")


def test_an_admin_adds_a_user_with_the_form(page: Page, console: Console) -> None:
    console.sign_in(page, ADMIN_EMAIL)
    page.goto(f"{console.url}/users")

    page.fill("#new-email", "new@example.com")
    page.fill("#new-password", PASSWORD)
    page.select_option("#new-role", "viewer")
    page.click("form.add-user button[type=submit]")

    expect(page.locator(".notice")).to_have_text("Added new@example.com (viewer).")
    assert console.store.find_user("new@example.com") is not None


def test_a_viewers_change_is_refused_with_403(page: Page, console: Console) -> None:
    console.sign_in(page, VIEWER_EMAIL)
    page.goto(f"{console.url}/users")
    expect(page.locator("form.add-user")).to_have_count(0)

    # What the admin's form would send, with the viewer's own valid CSRF token.
    answer = page.request.post(
        f"{console.url}/users",
        form={"email": "new@example.com", "password": PASSWORD, "role": "admin",
              "csrf_token": _csrf_token(page)},
    )  # fmt: skip

    assert answer.status == 403
    assert console.store.find_user("new@example.com") is None


def test_a_post_without_the_csrf_token_is_refused_with_400(page: Page, console: Console) -> None:
    console.sign_in(page, ADMIN_EMAIL)

    answer = page.request.post(
        f"{console.url}/users",
        form={"email": "new@example.com", "password": PASSWORD, "role": "admin"},
    )

    assert answer.status == 400
    assert "CSRF token" in answer.text()
    assert console.store.find_user("new@example.com") is None


def test_no_page_reports_an_error_in_the_browser(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    page.goto(f"{console.url}/signin")
    console.sign_in(page, ADMIN_EMAIL)
    for path in ("/", "/users", "/events"):
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None
        assert answer.status == 200
        # The stylesheet applied: the CSP let it in (a refused one would leave no styles).
        expect(page.locator("header.bar")).to_have_css("display", "flex")

    assert errors.messages == []


def test_every_page_is_served_with_the_content_security_policy(
    page: Page, console: Console
) -> None:
    signin = page.goto(f"{console.url}/signin")
    console.sign_in(page, ADMIN_EMAIL)
    overview = page.goto(f"{console.url}/")

    for answer in (signin, overview):
        assert answer is not None
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"


def _replay_dead_url(console: Console) -> str:
    """The API's replay of a connection's dead events, for a connection holding one dead
    event (made in the store: how it died is not what these tests are about)."""
    connection = console.store.create_connection(
        name="acme", location_id="loc_acme", ghl_token="pit-token", crm_url="http://crm.test/x"
    )
    payload = {"type": "post.published", "data": {"post_id": "crm-1"}}
    event, _ = console.store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    console.store.mark_dead(event.id, "ghl: 422 the post is gone", "permanent")
    return f"{console.url}/api/connections/{connection.id}/replay-dead"


def test_an_admin_makes_a_token_uses_it_and_revokes_it(
    page: Page, console: Console, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    replay_dead = _replay_dead_url(console)
    console.sign_in(page, ADMIN_EMAIL)
    page.click("a.who")
    expect(page).to_have_url(f"{console.url}/account")
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.locator("text=You have no API token.")).to_have_count(1)

    page.fill("#token-name", "nightly export")
    page.click("form.new-token button[type=submit]")

    expect(page.locator(".revealed")).to_contain_text("“nightly export”")
    token = page.locator("#new-token").text_content()
    assert token
    (record,) = console.store.list_api_tokens()
    # Its Copy button puts it on the clipboard (copy.js: no inline script under the CSP).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.url)
    try:
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_have_count(1)
        assert page.evaluate("navigator.clipboard.readText()") == token
    finally:
        page.context.clear_permissions()
    expect(page.locator("#tokens")).to_contain_text(record.id)
    expect(page.locator("#tokens")).to_contain_text("never")

    # The token works from a script, as its admin: a read, and a change with no CSRF token.
    bearer = {"Authorization": f"Bearer {token}"}
    overview = httpx.get(f"{console.url}/api/overview", headers=bearer)
    assert overview.status_code == 200
    assert overview.json()["connections"][0]["name"] == "acme"
    replayed = httpx.post(replay_dead, headers=bearer)
    assert replayed.status_code == 200
    assert [entry["status"] for entry in replayed.json()["replayed"]] == ["queued"]

    # Shown once: the page seen again lists the token, now used, and never shows it.
    page.goto(f"{console.url}/account")
    expect(page.locator(".revealed")).to_have_count(0)
    expect(page.locator("#tokens")).not_to_contain_text("never")
    assert token not in page.content()
    screenshots.take(page, "account")

    page.get_by_role("button", name="Revoke nightly export").click()

    expect(page.locator(".notice")).to_have_text(
        f"Revoked API token {record.id} (nightly export): its next request gets 401."
    )
    expect(page.locator("text=You have no API token.")).to_have_count(1)
    refused = httpx.get(f"{console.url}/api/overview", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["message"] == "Unknown or revoked API token."
    assert errors.messages == []


def test_a_viewer_sees_the_page_but_cannot_make_or_revoke_a_token(
    page: Page, console: Console, errors: ConsoleErrors
) -> None:
    viewer = console.store.find_user(VIEWER_EMAIL)
    assert viewer is not None
    made, _ = console.store.create_api_token(viewer.id, "dashboard")
    console.sign_in(page, VIEWER_EMAIL)
    page.click("a.who")

    expect(page).to_have_url(f"{console.url}/account")
    expect(page.locator("#tokens")).to_contain_text(made.id)
    expect(page.locator("form.new-token")).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke dashboard")).to_have_count(0)
    expect(page.locator("text=You are a viewer")).to_have_count(1)

    # What an admin's forms would send, with the viewer's own valid CSRF token.
    csrf = {"csrf_token": _csrf_token(page)}
    made_answer = page.request.post(f"{console.url}/account/tokens", form={"name": "x", **csrf})
    revoke_answer = page.request.post(f"{console.url}/account/tokens/{made.id}/revoke", form=csrf)

    assert made_answer.status == 403
    assert revoke_answer.status == 403
    assert [token.id for token in console.store.list_api_tokens()] == [made.id]
    assert errors.messages == []
