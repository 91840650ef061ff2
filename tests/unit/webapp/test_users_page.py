"""The /users page: admins add and remove users, viewers only look."""

from __future__ import annotations

from flask.testing import FlaskClient

from store import Store, UserRole
from tests.unit.webapp.conftest import ADMIN_EMAIL, PASSWORD, VIEWER_EMAIL, csrf_of


def test_an_admin_sees_the_users_and_the_forms(admin_client: FlaskClient) -> None:
    page = admin_client.get("/users").get_data(as_text=True)

    assert ADMIN_EMAIL in page
    assert "Add a user" in page
    assert "Remove" in page


def test_an_admin_adds_a_user(admin_client: FlaskClient, store: Store) -> None:
    answer = admin_client.post(
        "/users",
        data={"email": "New@Example.com", "password": PASSWORD, "role": "viewer",
              "csrf_token": csrf_of(admin_client)},
    )  # fmt: skip

    assert answer.status_code == 303
    added = store.find_user("new@example.com")
    assert added is not None
    assert added.role is UserRole.VIEWER
    assert "Added new@example.com (viewer)." in admin_client.get("/users").get_data(as_text=True)


def test_a_refused_user_is_explained(admin_client: FlaskClient, store: Store) -> None:
    answer = admin_client.post(
        "/users",
        data={"email": "new@example.com", "password": "short", "role": "viewer",
              "csrf_token": csrf_of(admin_client)},
    )  # fmt: skip

    assert answer.status_code == 400
    assert "at least 10 characters" in answer.get_data(as_text=True)
    assert store.find_user("new@example.com") is None


def test_an_unknown_role_is_refused(admin_client: FlaskClient, store: Store) -> None:
    answer = admin_client.post(
        "/users",
        data={"email": "new@example.com", "password": PASSWORD, "role": "owner",
              "csrf_token": csrf_of(admin_client)},
    )  # fmt: skip

    assert answer.status_code == 400
    assert store.find_user("new@example.com") is None


def test_an_admin_removes_a_user_but_not_the_last_admin(
    admin_client: FlaskClient, store: Store
) -> None:
    other = store.add_user("other@example.com", PASSWORD)
    admin = store.find_user(ADMIN_EMAIL)
    assert admin is not None
    token = csrf_of(admin_client)

    removed = admin_client.post(f"/users/{other.id}/remove", data={"csrf_token": token})
    last = admin_client.post(f"/users/{admin.id}/remove", data={"csrf_token": token})

    assert removed.status_code == 303
    assert store.find_user("other@example.com") is None
    assert last.status_code == 400
    assert "only admin" in last.get_data(as_text=True)
    assert store.find_user(ADMIN_EMAIL) is not None


def test_a_viewer_sees_the_list_without_forms(viewer_client: FlaskClient) -> None:
    page = viewer_client.get("/users").get_data(as_text=True)

    assert VIEWER_EMAIL in page
    assert "Add a user" not in page
    assert "an admin adds and removes users" in page


def test_a_viewers_change_is_refused_with_403(viewer_client: FlaskClient, store: Store) -> None:
    viewer = store.find_user(VIEWER_EMAIL)
    assert viewer is not None
    token = csrf_of(viewer_client)

    added = viewer_client.post(
        "/users", data={"email": "new@example.com", "password": PASSWORD, "csrf_token": token}
    )
    removed = viewer_client.post(f"/users/{viewer.id}/remove", data={"csrf_token": token})

    assert added.status_code == removed.status_code == 403
    assert store.find_user("new@example.com") is None
    assert store.find_user(VIEWER_EMAIL) is not None
