"""Signing in to the console, and its protections, in Chromium."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from console.signin import LOCK_AFTER
from tests.browser.conftest import ADMIN_EMAIL, PASSWORD, VIEWER_EMAIL, Console, ConsoleErrors


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
