"""Sign-in, sign-out and the pages behind them, through Flask's test client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from console.signin import LOCK_AFTER
from store import ConnectionRecord, Store, UserRole
from tests.unit.webapp.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    AppFactory,
    csrf_of,
    send,
    sign_in,
)


@pytest.mark.parametrize("path", ["/", "/users", "/?status=dead"])
def test_a_page_sends_a_visitor_to_sign_in_first(client: FlaskClient, path: str) -> None:
    answer = client.get(path)

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/signin?next=")


def test_the_machine_endpoints_need_no_sign_in(
    client: FlaskClient, connection: ConnectionRecord
) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert send(client, connection).status_code == 202
    # OAuth's pages answer for themselves (here: no GHL app configured), not with a redirect.
    assert (
        client.get("/oauth/ghl/start", query_string={"connection": connection.id}).status_code
        != 302
    )


def test_the_sign_in_page_and_its_stylesheet_are_public(client: FlaskClient) -> None:
    page = client.get("/signin")

    assert page.status_code == 200
    assert 'name="csrf_token"' in page.get_data(as_text=True)
    with client.get("/static/console.css") as stylesheet:
        assert stylesheet.status_code == 200
        assert stylesheet.mimetype == "text/css"


def test_signing_in_goes_where_the_visitor_was_going(client: FlaskClient, store: Store) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    answer = client.post(
        "/signin",
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "next": "/users",
              "csrf_token": csrf_of(client)},
    )  # fmt: skip

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/users"
    page = client.get("/users")
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "users"]
)
def test_signing_in_never_sends_to_another_site(
    client: FlaskClient, store: Store, target: str
) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    answer = client.post(
        "/signin",
        data={"email": ADMIN_EMAIL, "password": PASSWORD, "next": target,
              "csrf_token": csrf_of(client)},
    )  # fmt: skip

    assert answer.headers["Location"] == "/"


def test_a_wrong_password_is_refused_without_saying_which_part(
    client: FlaskClient, store: Store
) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    wrong = sign_in(client, ADMIN_EMAIL, "not the password")
    unknown = sign_in(client, "nobody@example.com", PASSWORD)

    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "Wrong email or password." in answer.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_ten_failures_lock_the_account(client: FlaskClient, store: Store) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    for _ in range(LOCK_AFTER - 1):
        assert sign_in(client, ADMIN_EMAIL, "not the password").status_code == 401

    last = sign_in(client, ADMIN_EMAIL, "not the password")
    right = sign_in(client, ADMIN_EMAIL)

    assert "This account is locked" in last.get_data(as_text=True)
    assert right.status_code == 401
    assert "This account is locked" in right.get_data(as_text=True)
    assert int(right.headers["Retry-After"]) > 14 * 60
    assert client.get("/").status_code == 302


def test_an_address_is_throttled_across_accounts(make_app: AppFactory, store: Store) -> None:
    app = make_app(signin_address_limit=3)
    client = app.test_client()
    for number in range(3):
        sign_in(client, f"user{number}@example.com", "whatever it is")
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    answer = sign_in(client, ADMIN_EMAIL)

    assert answer.status_code == 429
    assert "Too many failed sign-ins from your address" in answer.get_data(as_text=True)
    assert int(answer.headers["Retry-After"]) > 0


def test_the_address_is_the_proxys_client_only_with_trusted_proxies(
    make_app: AppFactory, store: Store
) -> None:
    app = make_app(signin_address_limit=2, trusted_proxy_count=1)
    client = app.test_client()
    wrong = {"email": "x@example.com", "password": "p", "csrf_token": csrf_of(client)}
    for _ in range(2):
        client.post("/signin", data=wrong, headers={"X-Forwarded-For": "203.0.113.7"})
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    token = csrf_of(client)
    form = {"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token}

    throttled = client.post("/signin", data=form, headers={"X-Forwarded-For": "203.0.113.7"})
    other = client.post("/signin", data=form, headers={"X-Forwarded-For": "203.0.113.8"})

    assert throttled.status_code == 429
    assert other.status_code == 302


def test_signing_out_ends_the_session(admin_client: FlaskClient) -> None:
    answer = admin_client.post("/signout", data={"csrf_token": csrf_of(admin_client)})

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/signin"
    assert admin_client.get("/").status_code == 302


def test_a_password_reset_ends_older_sessions(admin_client: FlaskClient, store: Store) -> None:
    store.reset_password(ADMIN_EMAIL, "a brand new password")

    assert admin_client.get("/").status_code == 302


def test_a_removed_user_is_signed_out(admin_client: FlaskClient, store: Store) -> None:
    store.add_user("other@example.com", PASSWORD, UserRole.ADMIN)
    store.remove_user(ADMIN_EMAIL)

    assert admin_client.get("/").status_code == 302


def test_the_session_cookie_is_httponly_lax_and_secure_by_default(
    client: FlaskClient, store: Store
) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    answer = sign_in(client, ADMIN_EMAIL)

    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("socialbridge_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


def test_the_secure_flag_follows_the_setting(make_app: AppFactory, store: Store) -> None:
    app: Flask = make_app(session_cookie_secure=False)
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    cookie = sign_in(app.test_client(), ADMIN_EMAIL).headers["Set-Cookie"]

    assert "Secure" not in cookie
    assert "HttpOnly" in cookie


def test_signing_in_starts_a_new_csrf_token(client: FlaskClient, store: Store) -> None:
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    before = csrf_of(client)

    sign_in(client, ADMIN_EMAIL)

    assert csrf_of(client) != before


def test_without_redis_signing_in_is_refused_with_503(make_app: AppFactory, store: Store) -> None:
    # A port nothing listens on: the per-address count cannot be read.
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)

    answer = sign_in(client, ADMIN_EMAIL)

    assert answer.status_code == 503
    assert "Signing in is unavailable" in answer.get_data(as_text=True)
    assert client.get("/").status_code == 302
