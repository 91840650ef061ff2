"""The /account page: your API tokens, listed for everyone, made and revoked by admins."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from store import Store, UserRole
from tests.unit.webapp.conftest import ADMIN_EMAIL, PASSWORD, VIEWER_EMAIL, csrf_of


def _post(client: FlaskClient, path: str, **form: str) -> tuple[int, str]:
    answer = client.post(path, data={**form, "csrf_token": csrf_of(client)})
    return answer.status_code, answer.get_data(as_text=True)


def test_an_admin_makes_a_token_shown_once_that_signs_in_the_api(
    admin_client: FlaskClient, client: FlaskClient, store: Store
) -> None:
    status, page = _post(admin_client, "/account/tokens", name="nightly export")

    assert status == 201
    shown = re.search(r'<code id="new-token">(sb_[^<]+)</code>', page)
    assert shown is not None
    token = shown.group(1)
    (record,) = store.list_api_tokens()
    assert (record.email, record.name) == (ADMIN_EMAIL, "nightly export")
    assert record.id in page
    later = admin_client.get("/account").get_data(as_text=True)
    assert token not in later
    assert "nightly export" in later
    answer = client.get("/api/overview", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200


def test_the_bar_links_to_the_account_page(admin_client: FlaskClient) -> None:
    page = admin_client.get("/").get_data(as_text=True)

    assert '<a class="who" href="/account"' in page


def test_an_admin_revokes_only_their_own_tokens(
    admin_client: FlaskClient, client: FlaskClient, store: Store
) -> None:
    admin = store.find_user(ADMIN_EMAIL)
    other = store.add_user("ops@example.com", PASSWORD, UserRole.ADMIN)
    assert admin is not None
    mine, token = store.create_api_token(admin.id, "mine")
    theirs, _ = store.create_api_token(other.id, "theirs")
    page = admin_client.get("/account").get_data(as_text=True)
    assert theirs.id not in page

    refused, _ = _post(admin_client, f"/account/tokens/{theirs.id}/revoke")
    status, _ = _post(admin_client, f"/account/tokens/{mine.id}/revoke")

    assert refused == 404
    assert store.get_api_token(theirs.id) is not None
    assert status == 303
    assert store.get_api_token(mine.id) is None
    assert (
        client.get("/api/overview", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    assert "Revoked API token" in admin_client.get("/account").get_data(as_text=True)


def test_a_viewer_sees_their_tokens_but_changes_nothing(
    viewer_client: FlaskClient, store: Store
) -> None:
    viewer = store.find_user(VIEWER_EMAIL)
    assert viewer is not None
    record, _ = store.create_api_token(viewer.id, "reports")

    page = viewer_client.get("/account").get_data(as_text=True)
    made, _ = _post(viewer_client, "/account/tokens", name="more")
    revoked, _ = _post(viewer_client, f"/account/tokens/{record.id}/revoke")

    assert record.id in page
    assert "reports" in page
    assert "Make a token" not in page
    assert "Revoke" not in page
    assert made == 403
    assert revoked == 403
    assert [t.id for t in store.list_api_tokens()] == [record.id]


def test_a_long_name_or_no_csrf_token_makes_nothing(
    admin_client: FlaskClient, store: Store
) -> None:
    status, page = _post(admin_client, "/account/tokens", name="x" * 101)
    forged = admin_client.post("/account/tokens", data={"name": "forged"})

    assert status == 400
    assert "name: at most 100 characters" in page
    assert forged.status_code == 400
    assert store.list_api_tokens() == []
