"""API tokens at the web edge: `Authorization: Bearer` on /api/… only, the user's role, no
CSRF token needed (and still needed for a session), 401 for a bad token counted against the
address's sign-in throttle."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient

from store import ConnectionRecord, EventRecord, Store, UserRole
from tests.unit.webapp.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    VIEWER_EMAIL,
    AppFactory,
    csrf_of,
    sign_in,
)

OUTSIDER = "sb_" + "A" * 43


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(store: Store, email: str, role: UserRole = UserRole.ADMIN) -> str:
    """A new user ``email`` with ``role``, and a token of theirs."""
    user = store.add_user(email, PASSWORD, role)
    _, token = store.create_api_token(user.id, "tests")
    return token


def dead_event(store: Store, connection: ConnectionRecord) -> EventRecord:
    payload = {"type": "post.published", "data": {"post_id": "crm-1"}}
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload=payload
    )
    return store.mark_dead(event.id, "ghl: refused for good", "permanent")


def test_a_token_reads_the_api_and_its_use_is_noted(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    token = token_of(store, VIEWER_EMAIL, UserRole.VIEWER)

    answer = client.get("/api/connections", headers=bearer(token))

    assert answer.status_code == 200
    assert answer.get_json()["connections"][0]["id"] == connection.id
    assert "Set-Cookie" not in answer.headers  # no session is made for a script
    assert answer.headers["Cache-Control"] == "no-store"
    (record,) = store.list_api_tokens()
    assert record.last_used_at is not None


def test_the_scheme_is_read_in_any_case(client: FlaskClient, store: Store) -> None:
    token = token_of(store, ADMIN_EMAIL)

    answer = client.get("/api/overview", headers={"Authorization": f"bearer  {token}"})

    assert answer.status_code == 200


def test_a_token_never_signs_in_a_page(client: FlaskClient, store: Store) -> None:
    token = token_of(store, ADMIN_EMAIL)

    page = client.get("/events", headers=bearer(token))
    form = client.post("/users", headers=bearer(token), data={"email": "x@example.com"})

    assert page.status_code == 302
    assert page.headers["Location"].startswith("/signin")
    assert form.status_code == 400  # the CSRF check: a page takes no token
    assert [user.email for user in store.list_users()] == [ADMIN_EMAIL]


def test_an_unknown_or_revoked_token_gets_401_json(client: FlaskClient, store: Store) -> None:
    token = token_of(store, ADMIN_EMAIL)
    (record,) = store.list_api_tokens()
    store.revoke_api_token(record.id)

    for sent in (token, OUTSIDER, "not-even-a-token", ""):
        answer = client.get("/api/overview", headers=bearer(sent))
        assert answer.status_code == 401, sent
        assert answer.get_json() == {
            "error": "unauthorized",
            "message": "Unknown or revoked API token.",
        }
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="socialbridge"'


def test_a_bad_token_is_not_saved_by_a_session_cookie(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    # The header decides alone: a request that names a token is that token or nobody.
    answer = admin_client.get("/api/connections", headers=bearer(OUTSIDER))

    assert answer.status_code == 401


def test_removing_the_user_ends_its_tokens(
    admin_client: FlaskClient, client: FlaskClient, store: Store
) -> None:
    token = token_of(store, "bot@example.com", UserRole.VIEWER)
    bot = store.find_user("bot@example.com")
    assert bot is not None
    assert client.get("/api/overview", headers=bearer(token)).status_code == 200

    removed = admin_client.post(
        f"/users/{bot.id}/remove", data={"csrf_token": csrf_of(admin_client)}
    )

    assert removed.status_code == 303
    assert client.get("/api/overview", headers=bearer(token)).status_code == 401
    assert store.list_api_tokens() == []


def test_a_password_reset_keeps_the_token(client: FlaskClient, store: Store) -> None:
    token = token_of(store, ADMIN_EMAIL)

    store.reset_password(ADMIN_EMAIL, "a brand new password")

    assert client.get("/api/overview", headers=bearer(token)).status_code == 200


def test_a_viewers_token_is_refused_a_change(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    token = token_of(store, VIEWER_EMAIL, UserRole.VIEWER)
    dead = dead_event(store, connection)

    answer = client.post(f"/api/events/{dead.id}/replay", headers=bearer(token))

    assert answer.status_code == 403
    assert answer.get_json()["error"] == "forbidden"
    after = store.get_event(dead.id)
    assert after is not None
    assert after.status == "dead"


def test_a_token_write_needs_no_csrf_token(
    client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    token = token_of(store, ADMIN_EMAIL)
    dead = dead_event(store, connection)

    answer = client.post(f"/api/events/{dead.id}/replay", headers=bearer(token))

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "queued"


def test_a_session_write_still_needs_the_csrf_header(
    admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    dead = dead_event(store, connection)

    refused = admin_client.post(f"/api/events/{dead.id}/replay")
    after = store.get_event(dead.id)
    assert refused.status_code == 400
    assert refused.get_json()["message"].startswith("Missing or wrong CSRF token")
    assert after is not None
    assert after.status == "dead"

    done = admin_client.post(
        f"/api/events/{dead.id}/replay", headers={"X-CSRF-Token": csrf_of(admin_client)}
    )
    assert done.status_code == 200
    assert done.get_json()["was"] == "dead"


def test_a_session_retry_now_needs_the_csrf_header_and_a_token_one_does_not(
    client: FlaskClient, admin_client: FlaskClient, store: Store, connection: ConnectionRecord
) -> None:
    event, _ = store.record_event(
        connection_id=connection.id, type="post.published", payload={"type": "post.published"}
    )
    store.start_attempt(event.id, "task-1", lease_seconds=20)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    waiting = store.mark_retrying(event.id, "ghl: 503", due)

    for path in (
        f"/api/events/{event.id}/retry-now",
        f"/api/connections/{connection.id}/retry-now",
    ):
        refused = admin_client.post(path)
        assert refused.status_code == 400, path
        assert refused.get_json()["message"].startswith("Missing or wrong CSRF token"), path
    assert store.get_event(event.id) == waiting

    done = client.post(
        f"/api/events/{event.id}/retry-now", headers=bearer(token_of(store, "bot@example.com"))
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert (done.get_json()["was"], done.get_json()["status"]) == ("retrying", "queued")


def test_wrong_tokens_count_against_the_addresss_sign_in_throttle(
    make_app: AppFactory, store: Store
) -> None:
    app: Flask = make_app(signin_address_limit=3)
    app_store: Store = app.extensions["socialbridge"].store
    token = token_of(app_store, ADMIN_EMAIL)
    client = app.test_client()

    for _ in range(3):
        assert client.get("/api/overview", headers=bearer(OUTSIDER)).status_code == 401
    refused = client.get("/api/overview", headers=bearer(token))
    signing_in = sign_in(app.test_client(), ADMIN_EMAIL)
    elsewhere = client.get(
        "/api/overview", headers=bearer(token), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )

    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert signing_in.status_code == 429  # one count for passwords and tokens alike
    assert elsewhere.status_code == 200


def test_without_redis_a_token_is_refused_with_503(make_app: AppFactory) -> None:
    app: Flask = make_app(redis_url="redis://127.0.0.1:1/0")
    token = token_of(app.extensions["socialbridge"].store, ADMIN_EMAIL)

    answer = app.test_client().get("/api/overview", headers=bearer(token))

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"] == "service_unavailable"
