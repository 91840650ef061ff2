"""Security headers on every answer, and the CSRF check on every state-changing request."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from store import ConnectionRecord, Store
from tests.unit.webapp.conftest import csrf_of, send


def _assert_security_headers(headers: object) -> None:
    from werkzeug.datastructures import Headers

    assert isinstance(headers, Headers)
    policy = headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/signin", "/", "/healthz", "/metrics", "/nowhere"])
def test_every_answer_has_the_security_headers(client: FlaskClient, path: str) -> None:
    _assert_security_headers(client.get(path).headers)


def test_a_signed_in_page_and_a_webhook_answer_have_them_too(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    _assert_security_headers(admin_client.get("/").headers)
    _assert_security_headers(send(admin_client, connection).headers)


def test_no_page_holds_inline_script(admin_client: FlaskClient) -> None:
    for path in ("/", "/overview", "/events", "/users", "/signin"):
        page = admin_client.get(path).get_data(as_text=True)
        # Only scripts from a file of our own, each with an empty body; no handler attribute.
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.DOTALL)
        assert all(re.search(r'src="/static/[\w.]+"', attrs) for attrs, _ in scripts), path
        assert all(body == "" for _, body in scripts), path
        assert page.count("<script") == len(scripts), path
        assert not re.search(r"\son\w+=", page), path
        assert " style=" not in page, path


def test_a_post_without_the_token_is_refused_and_changes_nothing(
    admin_client: FlaskClient, store: Store
) -> None:
    answer = admin_client.post(
        "/users", data={"email": "new@example.com", "password": "correct horse battery"}
    )

    assert answer.status_code == 400
    assert "CSRF token" in answer.get_data(as_text=True)
    assert store.find_user("new@example.com") is None


def test_a_post_with_another_token_is_refused(admin_client: FlaskClient, store: Store) -> None:
    answer = admin_client.post(
        "/users",
        data={"email": "new@example.com", "password": "correct horse battery",
              "csrf_token": "not-the-sessions-token"},
    )  # fmt: skip

    assert answer.status_code == 400
    assert store.find_user("new@example.com") is None


def test_the_token_may_come_in_a_header(admin_client: FlaskClient, store: Store) -> None:
    answer = admin_client.post(
        "/users",
        data={"email": "new@example.com", "password": "correct horse battery"},
        headers={"X-CSRF-Token": csrf_of(admin_client)},
    )

    assert answer.status_code == 303
    assert store.find_user("new@example.com") is not None


def test_signing_in_needs_the_token_too(client: FlaskClient, store: Store) -> None:
    store.add_user("admin@example.com", "correct horse battery")

    answer = client.post(
        "/signin", data={"email": "admin@example.com", "password": "correct horse battery"}
    )

    assert answer.status_code == 400
    assert client.get("/").status_code == 302


def test_signing_out_needs_the_token(admin_client: FlaskClient) -> None:
    assert admin_client.post("/signout").status_code == 400
    assert admin_client.get("/").status_code == 200


def test_a_post_to_no_page_is_404_and_to_a_read_only_one_405(client: FlaskClient) -> None:
    assert client.post("/nowhere").status_code == 404
    assert client.post("/").status_code == 405
