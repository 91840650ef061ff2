"""The mappings pages through Flask's test client: edit with problems at their line, preview a
pasted body against the sandbox GHL (in process), save valid versions only, roll back, and a
viewer who may read and preview but not change."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from socialbridge.config import Settings
from store import ConnectionRecord, Store, UserRole
from tests.unit.webapp.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    SECRET_KEY,
    VIEWER_EMAIL,
    csrf_of,
    sign_in,
)
from webapp import create_app
from workers.services import Services

VALID = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
"""
INVALID = VALID.replace("ghl_post_id:", "ghl_post_idd:")  # line 6
BODY = '{"action": "published", "post": {"id": "crm-1", "ghl_id": "post_demo_1"}}'


@pytest.fixture
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    """The web app with GHL answered by the sandbox, in process: a preview reads GHL."""
    settings = Settings.from_mapping(
        {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": SECRET_KEY,
            "public_url": "https://bridge.example",
            "ghl_base_url": "http://ghl.sandbox",
            "tag_cache_ttl": 0,
        }
    )
    ghl = httpx.WSGITransport(app=create_sandbox_ghl_app(rate_limit=10_000))
    built = create_app(settings, services=Services(settings, ghl_transport=ghl))
    yield built
    built.extensions["socialbridge"].dispose()
    built.extensions["task_publisher"].close()
    built.extensions["celery"].close()


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme",
        location_id=DEFAULT_LOCATION,
        ghl_token=DEFAULT_TOKEN,
        crm_url="http://crm.example/hooks/acme",
        inbound_auth="token",
    )


def _post(client: FlaskClient, path: str, **form: str) -> TestResponse:
    return client.post(path, data={**form, "csrf_token": csrf_of(client)})


def test_the_index_links_each_connection(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    page = admin_client.get("/mappings").get_data(as_text=True)

    assert f'href="/mappings/{connection.id}"' in page
    assert 'href="/mappings">Mappings</a>' in page  # the nav


def test_a_connection_without_a_mapping_starts_from_version_1(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    page = admin_client.get(f"/mappings/{connection.id}").get_data(as_text=True)

    assert ">version: 1\n</textarea>" in page
    assert "No version saved yet." in page


def test_an_unknown_connection_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/mappings/con_0000000000000000").status_code == 404


def test_check_lists_each_problem_at_its_line(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}/check",
        data={"mapping": INVALID.replace("\n", "\r\n"), "csrf_token": csrf_of(admin_client)},
    )
    page = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert '<a href="#line-6">line 6</a>: <code>inbound.fields.ghl_post_idd</code>' in page
    assert '<li id="line-6" class="bad"><code>    ghl_post_idd: $.post.ghl_id</code>' in page
    assert store.list_mapping_versions(connection.id) == []


def test_save_refuses_an_invalid_mapping_and_keeps_nothing(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}",
        data={"mapping": INVALID, "csrf_token": csrf_of(admin_client)},
    )

    assert answer.status_code == 400
    assert "1 problem: not saved" in answer.get_data(as_text=True)
    found = store.get_connection(connection.id)
    assert found is not None
    assert found.mapping is None
    assert store.list_mapping_versions(connection.id) == []


def test_save_stores_a_valid_mapping_as_a_version_with_lf_lines(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}",
        data={"mapping": VALID.replace("\n", "\r\n"), "csrf_token": csrf_of(admin_client)},
    )

    assert answer.status_code == 303
    found = store.get_connection(connection.id)
    assert found is not None
    assert found.mapping == VALID
    [version] = store.list_mapping_versions(connection.id)
    assert (version.number, version.author) == (1, ADMIN_EMAIL)
    page = admin_client.get(f"/mappings/{connection.id}").get_data(as_text=True)
    assert "Saved the mapping of acme as version 1." in page
    assert "<strong>current</strong>" in page


def test_preview_shows_the_event_and_the_request_of_the_pasted_mapping(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}/preview",
        data={"mapping": VALID, "body": BODY, "csrf_token": csrf_of(admin_client)},
    )
    page = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert "&#34;post_id&#34;: &#34;crm-1&#34;" in page
    assert "Write 1: post.tags_synced" in page
    assert "<code>POST http://crm.example/hooks/acme</code>" in page
    assert "nothing was stored and nothing was sent to the CRM" in page
    assert store.list_events() == []
    found = store.get_connection(connection.id)
    assert found is not None
    assert found.mapping is None


def test_preview_of_a_body_that_makes_no_event_shows_the_receivers_errors(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}/preview",
        data={"mapping": VALID, "body": '{"action": "published"}',
              "csrf_token": csrf_of(admin_client)},
    )  # fmt: skip
    page = answer.get_data(as_text=True)

    assert "The body makes no valid event" in page
    assert "<code>data.post_id</code>" in page


def test_preview_of_a_body_that_is_not_json_says_so(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}/preview",
        data={"mapping": VALID, "body": "{", "csrf_token": csrf_of(admin_client)},
    )

    assert answer.status_code == 400
    assert "The CRM body: not JSON" in answer.get_data(as_text=True)


def test_preview_with_an_invalid_mapping_shows_its_problems(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = admin_client.post(
        f"/mappings/{connection.id}/preview",
        data={"mapping": INVALID, "body": BODY, "csrf_token": csrf_of(admin_client)},
    )

    assert answer.status_code == 400
    assert '<a href="#line-6">line 6</a>' in answer.get_data(as_text=True)


def test_roll_back_makes_an_old_version_current_as_a_new_one(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    other = VALID.replace("$.post.ghl_id", "$.post.ghl")
    store.save_mapping(connection.id, VALID)
    store.save_mapping(connection.id, other)

    answer = _post(admin_client, f"/mappings/{connection.id}/versions/1/rollback")

    assert answer.status_code == 303
    found = store.get_connection(connection.id)
    assert found is not None
    assert found.mapping == VALID
    newest = store.list_mapping_versions(connection.id)[0]
    assert (newest.number, newest.restored_from, newest.author) == (3, 1, ADMIN_EMAIL)
    page = admin_client.get(f"/mappings/{connection.id}").get_data(as_text=True)
    assert "Rolled back: version 3 is version 1 again." in page


def test_a_version_page_shows_its_text(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    store.save_mapping(connection.id, VALID, author="ann@example.com")

    page = admin_client.get(f"/mappings/{connection.id}/versions/1").get_data(as_text=True)

    assert "ghl_post_id: $.post.ghl_id" in page
    assert "by ann@example.com" in page
    assert admin_client.get(f"/mappings/{connection.id}/versions/2").status_code == 404


def test_roll_back_to_a_missing_version_is_404(
    admin_client: FlaskClient, connection: ConnectionRecord
) -> None:
    answer = _post(admin_client, f"/mappings/{connection.id}/versions/9/rollback")

    assert answer.status_code == 404


def test_a_viewer_reads_checks_and_previews_but_may_not_change(
    app: Flask, store: Store, connection: ConnectionRecord
) -> None:
    store.add_user(VIEWER_EMAIL, PASSWORD, UserRole.VIEWER)
    viewer = app.test_client()
    assert sign_in(viewer, VIEWER_EMAIL).status_code == 302
    store.save_mapping(connection.id, VALID)
    base = f"/mappings/{connection.id}"

    page = viewer.get(base).get_data(as_text=True)
    checked = _post(viewer, f"{base}/check", mapping=VALID)
    saved = _post(viewer, base, mapping=VALID.replace("ghl_id", "ghl"))
    rolled = _post(viewer, f"{base}/versions/1/rollback")

    assert 'id="save"' not in page
    assert "Roll back" not in page
    assert checked.status_code == 200
    assert saved.status_code == 403
    assert rolled.status_code == 403
    assert [v.number for v in store.list_mapping_versions(connection.id)] == [1]


def test_a_save_without_the_csrf_token_is_refused(
    admin_client: FlaskClient, connection: ConnectionRecord, store: Store
) -> None:
    answer = admin_client.post(f"/mappings/{connection.id}", data={"mapping": VALID})

    assert answer.status_code == 400
    assert store.list_mapping_versions(connection.id) == []
