"""The sandbox CRM over real HTTP, written to by the real webhook connector."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from crm.connector import CRMConnector, WriteBack
from crm.registry import build_connector
from crm.webhook import WebhookConnector
from sandbox.crm import create_sandbox_crm_app
from sandbox.crm.state_file import STATE_FILE_NAME
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.errors import AuthError, PermanentError, RetryableError

SECRET = "whsec_" + base64.b64encode(b"sandbox-crm-acme-secret-0123").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some-other-secret-456789").decode()
SYNCED_AT = "2026-11-23T10:00:00Z"


def tags_synced(key: str = "wb-tags-1", post_id: str = "crm-post-1", **data: Any) -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key=key,
        data={
            "post_id": post_id,
            "location_id": "loc-1",
            "ghl_post_id": "ghl-1",
            "tags": [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}],
            "post_tags": [{"id": "t1", "name": "Listing"}],
            "synced_at": SYNCED_AT,
            **data,
        },
    )


def tag_details(key: str = "wb-details-1") -> WriteBack:
    return WriteBack(
        type="post.tag_details_attached",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tag_ids": ["t1"],
            "tags": [{"_id": "t1", "tag": "Listing", "locationId": "loc-1", "deleted": False}],
            "synced_at": SYNCED_AT,
        },
    )


def statistics(key: str = "wb-stats-1", likes: int = 12) -> WriteBack:
    return WriteBack(
        type="location.statistics_synced",
        idempotency_key=key,
        data={
            "location_id": "loc-1",
            "start_date": "2026-11-16",
            "end_date": "2026-11-22",
            "profile_ids": ["p1"],
            "totals": {"likes": likes, "posts": 3},
            "platforms": {"facebook": {"likes": likes}},
            "daily": {"day_range": ["Mon", "Tue"], "likes": [likes - 2, 2]},
            "synced_at": SYNCED_AT,
        },
    )


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(create_sandbox_crm_app(secrets={"acme": SECRET})) as server:
        yield server


@pytest.fixture
def sandbox(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def connect(
    server: ServerThread,
    account: str = "acme",
    secret: str = SECRET,
    *,
    timeout: float = 5.0,
) -> CRMConnector:
    return build_connector(
        "webhook",
        url=f"{server.url}/hooks/{account}",
        settings={"secret": secret},
        app_settings=Settings.from_mapping({"crm_timeout": timeout}),
    )


@pytest.fixture
def crm(server: ServerThread) -> Iterator[CRMConnector]:
    connector = connect(server)
    yield connector
    connector.close()


def deliveries(sandbox: httpx.Client) -> list[dict[str, Any]]:
    answer = sandbox.get("/_sandbox/deliveries")
    assert answer.status_code == 200
    result: list[dict[str, Any]] = answer.json()
    return result


def outcomes(sandbox: httpx.Client) -> list[tuple[str, int]]:
    return [(d["outcome"], d["status"]) for d in deliveries(sandbox)]


def signed_post(
    sandbox: httpx.Client, body: bytes, *, webhook_id: str = "raw-1", secret: str = SECRET
) -> httpx.Response:
    now = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }
    return sandbox.post("/hooks/acme", content=body, headers=headers)


def test_a_write_back_is_stored(crm: CRMConnector, sandbox: httpx.Client) -> None:
    crm.write(tags_synced())

    [post] = sandbox.get("/_sandbox/accounts/acme/posts").json()
    assert post["post_id"] == "crm-post-1"
    assert post["ghl_post_id"] == "ghl-1"
    assert post["tags"] == [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}]
    assert post["post_tags"] == [{"id": "t1", "name": "Listing"}]
    assert post["tags_synced_at"] == SYNCED_AT
    assert post["webhook_ids"] == ["wb-tags-1"]
    [delivery] = deliveries(sandbox)
    assert delivery["webhook_id"] == "wb-tags-1"
    assert delivery["type"] == "post.tags_synced"
    assert (delivery["outcome"], delivery["status"]) == ("stored", 200)


def test_the_answer_says_stored_then_duplicate(sandbox: httpx.Client) -> None:
    body = json.dumps(
        {"type": "post.tags_synced", "timestamp": SYNCED_AT, "data": tags_synced().data}
    ).encode()

    first = signed_post(sandbox, body, webhook_id="raw-1")
    second = signed_post(sandbox, body, webhook_id="raw-1")

    assert (first.status_code, first.json()["status"]) == (200, "stored")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")


def test_tags_and_tag_details_merge_into_one_post_record(
    crm: CRMConnector, sandbox: httpx.Client
) -> None:
    crm.write(tags_synced())
    crm.write(tag_details())

    [post] = sandbox.get("/_sandbox/accounts/acme/posts").json()
    assert post["tags"][0] == {"id": "t1", "name": "Listing"}
    assert post["tag_ids"] == ["t1"]
    assert post["tag_details"] == [
        {"_id": "t1", "tag": "Listing", "locationId": "loc-1", "deleted": False}
    ]
    assert post["webhook_ids"] == ["wb-tags-1", "wb-details-1"]
    assert sandbox.get("/_sandbox/accounts/acme/posts/crm-post-1").json() == post


def test_a_statistics_snapshot_is_kept_per_location_and_range(
    crm: CRMConnector, sandbox: httpx.Client
) -> None:
    crm.write(statistics("wb-stats-1", likes=12))
    crm.write(statistics("wb-stats-2", likes=20))

    [snapshot] = sandbox.get("/_sandbox/accounts/acme/statistics").json()
    assert snapshot["location_id"] == "loc-1"
    assert (snapshot["start_date"], snapshot["end_date"]) == ("2026-11-16", "2026-11-22")
    assert snapshot["totals"] == {"likes": 20, "posts": 3}
    assert snapshot["daily"] == {"day_range": ["Mon", "Tue"], "likes": [18, 2]}
    assert snapshot["webhook_id"] == "wb-stats-2"


def test_a_second_delivery_of_the_same_id_is_not_stored_twice(
    crm: CRMConnector, sandbox: httpx.Client
) -> None:
    crm.write(tags_synced())
    crm.write(tags_synced(tags=[]))  # a retry of the same write: same webhook-id

    [post] = sandbox.get("/_sandbox/accounts/acme/posts").json()
    assert post["webhook_ids"] == ["wb-tags-1"]
    assert len(post["tags"]) == 2
    assert outcomes(sandbox) == [("stored", 200), ("duplicate", 200)]


def test_concurrent_deliveries_of_one_id_store_it_once(
    server: ServerThread, sandbox: httpx.Client
) -> None:
    def deliver() -> None:
        connector = connect(server)
        try:
            connector.write(tags_synced())
        finally:
            connector.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(deliver) for _ in range(8)]:
            future.result()

    assert sorted(outcomes(sandbox)) == [("duplicate", 200)] * 7 + [("stored", 200)]
    [post] = sandbox.get("/_sandbox/accounts/acme/posts").json()
    assert post["webhook_ids"] == ["wb-tags-1"]


def test_a_wrong_secret_is_refused(server: ServerThread, sandbox: httpx.Client) -> None:
    connector = connect(server, secret=OTHER_SECRET)
    with pytest.raises(AuthError) as caught:
        connector.write(tags_synced())
    connector.close()

    assert caught.value.status == 401
    assert "No matching signature found" in caught.value.message
    assert outcomes(sandbox) == [("rejected", 401)]
    assert sandbox.get("/_sandbox/accounts/acme/posts").json() == []


def test_a_stale_timestamp_is_refused(server: ServerThread, sandbox: httpx.Client) -> None:
    http = httpx.Client(timeout=5)
    connector = WebhookConnector(
        http, url=f"{server.url}/hooks/acme", secret=SECRET, clock=lambda: time.time() - 600
    )
    with pytest.raises(AuthError) as caught:
        connector.write(tags_synced())
    connector.close()

    assert "too old" in caught.value.message
    [delivery] = deliveries(sandbox)
    assert (delivery["status"], delivery["reason"]) == (401, "Message timestamp too old")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "x", "webhook-timestamp": "now", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1"},
    ],
)
def test_missing_or_malformed_signature_headers_are_refused(
    headers: dict[str, str], sandbox: httpx.Client
) -> None:
    answer = sandbox.post("/hooks/acme", content=b"{}", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["error"]


def test_an_invalid_body_gets_field_errors(sandbox: httpx.Client) -> None:
    data = {**tags_synced().data, "tags": [{"name": "no id"}]}
    body = json.dumps({"type": "post.tags_synced", "timestamp": SYNCED_AT, "data": data})

    answer = signed_post(sandbox, body.encode())

    assert answer.status_code == 422
    assert answer.json()["errors"] == {"data.tags.0.id": ["Missing data for required field."]}
    [delivery] = deliveries(sandbox)
    assert (delivery["type"], delivery["outcome"], delivery["status"]) == (
        "post.tags_synced",
        "rejected",
        422,
    )


def test_a_tag_list_it_has_seen_is_still_checked_in_every_write_back(
    crm: CRMConnector, sandbox: httpx.Client
) -> None:
    # Every post.published of a location carries the same list of hundreds of tags; the CRM
    # checks a list once per content, and must still refuse whatever differs from it.
    many = [{"id": f"tag-{n}", "name": f"Tag {n}"} for n in range(250)]
    crm.write(tags_synced(key="wb-many-1", tags=many))

    def sent(webhook_id: str, **changes: Any) -> httpx.Response:
        data = {**tags_synced(tags=many).data, **changes}
        body = json.dumps({"type": "post.tags_synced", "timestamp": SYNCED_AT, "data": data})
        return signed_post(sandbox, body.encode(), webhook_id=webhook_id)

    one_changed = [*many[:7], {"id": "", "name": "Tag 7"}, *many[8:]]
    unsafe = [*many[:3], {"id": "tag-3", "name": "Tag \x00 3"}, *many[4:]]
    extra = [*many[:5], {**many[5], "colour": "red"}, *many[6:]]
    refused = {
        "bad-id": sent("bad-id", tags=one_changed),
        "unsafe": sent("unsafe", tags=unsafe),
        "extra": sent("extra", tags=extra),
        "empty-post": sent("empty-post", post_id=""),
    }
    stored = sent("again", post_id="crm-post-2")

    assert {name: (r.status_code, r.json()["errors"]) for name, r in refused.items()} == {
        "bad-id": (422, {"data.tags.7.id": ["Length must be between 1 and 200."]}),
        "unsafe": (
            422,
            {"data.tags.3.name": ["Contains U+0000 (NUL), which is not allowed in text."]},
        ),
        "extra": (422, {"data.tags.5.colour": ["Unknown field."]}),
        "empty-post": (422, {"data.post_id": ["Length must be between 1 and 200."]}),
    }
    assert (stored.status_code, stored.json()["status"]) == (200, "stored")
    posts = sandbox.get("/_sandbox/accounts/acme/posts").json()
    assert [(post["post_id"], post["tags"]) for post in posts] == [
        ("crm-post-1", many),
        ("crm-post-2", many),
    ]
    assert [(d["webhook_id"], d["outcome"]) for d in deliveries(sandbox)] == [
        ("wb-many-1", "stored"),
        ("bad-id", "rejected"),
        ("unsafe", "rejected"),
        ("extra", "rejected"),
        ("empty-post", "rejected"),
        ("again", "stored"),
    ]


def test_an_unknown_type_or_non_json_body_is_unprocessable(sandbox: httpx.Client) -> None:
    ping = json.dumps({"type": "ping", "timestamp": SYNCED_AT, "data": {}}).encode()

    assert list(signed_post(sandbox, ping, webhook_id="a").json()["errors"]) == ["type"]
    not_json = signed_post(sandbox, b"not json", webhook_id="b")
    assert (not_json.status_code, not_json.json()["errors"]) == (
        422,
        {"_body": ["Not valid JSON."]},
    )


def test_an_unknown_account_is_not_found(server: ServerThread, sandbox: httpx.Client) -> None:
    connector = connect(server, account="nobody")
    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced())
    connector.close()

    assert caught.value.status == 404
    assert sandbox.get("/_sandbox/accounts/nobody/posts").status_code == 404


def test_accounts_are_registered_at_run_time(server: ServerThread, sandbox: httpx.Client) -> None:
    added = sandbox.post("/_sandbox/accounts", json={"account": "demo", "secret": OTHER_SECRET})
    connector = connect(server, account="demo", secret=OTHER_SECRET)
    connector.write(tags_synced())
    connector.close()

    assert added.status_code == 201
    assert added.json() == {"account": "demo", "hook_path": "/hooks/demo"}
    assert len(sandbox.get("/_sandbox/accounts/demo/posts").json()) == 1
    assert sandbox.get("/_sandbox/accounts").json() == [
        {"account": "acme", "hook_path": "/hooks/acme", "posts": 0, "statistics": 0},
        {"account": "demo", "hook_path": "/hooks/demo", "posts": 1, "statistics": 0},
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"account": "demo", "secret": "not-a-secret!"}, "secret"),
        ({"account": "de mo", "secret": SECRET}, "account"),
        ({"account": "demo", "secret": SECRET, "colour": "red"}, "colour"),
    ],
)
def test_unusable_accounts_are_refused(
    payload: dict[str, str], field: str, sandbox: httpx.Client
) -> None:
    answer = sandbox.post("/_sandbox/accounts", json=payload)

    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == [field]


def test_a_status_fault_answers_before_storing(crm: CRMConnector, sandbox: httpx.Client) -> None:
    assert sandbox.post("/_sandbox/faults", json={"status": 503, "times": 2}).status_code == 201

    for _ in range(2):
        with pytest.raises(RetryableError) as caught:
            crm.write(tags_synced())
        assert caught.value.status == 503
    crm.write(tags_synced())

    assert outcomes(sandbox) == [("fault", 503), ("fault", 503), ("stored", 200)]
    assert sandbox.get("/_sandbox/faults").json() == {"faults": []}


def test_a_429_fault_says_when_to_retry(crm: CRMConnector, sandbox: httpx.Client) -> None:
    sandbox.post("/_sandbox/faults", json={"status": 429, "retry_after": 3})

    with pytest.raises(RetryableError) as caught:
        crm.write(tags_synced())

    assert caught.value.retry_after == 3.0
    assert sandbox.get("/_sandbox/accounts/acme/posts").json() == []


def test_an_answer_lost_after_the_store_is_found_by_the_retry(
    server: ServerThread, sandbox: httpx.Client
) -> None:
    sandbox.post("/_sandbox/faults", json={"delay_ms": 1500, "after_store": True})
    connector = connect(server, timeout=0.3)

    with pytest.raises(RetryableError, match="timed out"):
        connector.write(tags_synced())
    # The CRM stored it before answering: the retry is a duplicate, not a second record.
    connector.write(tags_synced())
    connector.close()

    assert outcomes(sandbox) == [("stored", 200), ("duplicate", 200)]
    assert len(sandbox.get("/_sandbox/accounts/acme/posts").json()) == 1


def test_faults_are_validated_and_cleared(sandbox: httpx.Client) -> None:
    assert sandbox.post("/_sandbox/faults", json={"times": 2}).status_code == 422
    assert sandbox.post("/_sandbox/faults", json={"status": 700}).status_code == 422
    sandbox.post("/_sandbox/faults", json={"status": 500, "times": 5})

    assert sandbox.delete("/_sandbox/faults").json() == {"faults": []}
    assert sandbox.get("/_sandbox/faults").json() == {"faults": []}


def test_reset_forgets_everything_but_the_accounts(
    crm: CRMConnector, sandbox: httpx.Client
) -> None:
    crm.write(tags_synced())
    crm.write(statistics())
    sandbox.post("/_sandbox/faults", json={"status": 500})

    assert sandbox.delete("/_sandbox/deliveries").status_code == 200

    assert deliveries(sandbox) == []
    assert sandbox.get("/_sandbox/accounts/acme/posts").json() == []
    assert sandbox.get("/_sandbox/accounts/acme/statistics").json() == []
    assert sandbox.get("/_sandbox/faults").json() == {"faults": []}
    crm.write(tags_synced())  # the same id is new again, and the account still works
    assert outcomes(sandbox) == [("stored", 200)]


def test_the_html_page_shows_records_escaped(crm: CRMConnector, sandbox: httpx.Client) -> None:
    crm.write(tags_synced(tags=[{"id": "t9", "name": "<script>alert(1)</script>"}]))
    crm.write(tag_details())
    crm.write(statistics())

    for path in ("/", "/accounts/acme"):
        page = sandbox.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "crm-post-1" in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<script>" not in page.text
        assert "Listing" in page.text
        assert "2026-11-16" in page.text
    assert sandbox.get("/accounts/nobody").status_code == 404


def test_unknown_post_is_not_found(sandbox: httpx.Client) -> None:
    assert sandbox.get("/_sandbox/accounts/acme/posts/nope").status_code == 404


def test_a_bad_configured_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_sandbox_crm_app(secrets={"acme": "plain-password"})


# --- kept on disk --------------------------------------------------------------------------


def test_a_restarted_crm_still_knows_what_it_stored(tmp_path: Path) -> None:
    with ServerThread(create_sandbox_crm_app(data_dir=tmp_path)) as first:
        httpx.post(
            f"{first.url}/_sandbox/accounts", json={"account": "acme", "secret": SECRET}
        ).raise_for_status()
        connector = connect(first)
        connector.write(tags_synced())
        connector.write(statistics())
        connector.close()

    # Started again on the same folder: the account registered at run time, the records and
    # the webhook-ids are back, so a redelivery is recognised.
    with ServerThread(create_sandbox_crm_app(data_dir=tmp_path)) as second:
        connector = connect(second)
        connector.write(tags_synced())
        connector.close()
        with httpx.Client(base_url=second.url, timeout=5) as sandbox:
            [post] = sandbox.get("/_sandbox/accounts/acme/posts").json()
            [snapshot] = sandbox.get("/_sandbox/accounts/acme/statistics").json()
            log = deliveries(sandbox)

    assert post["webhook_ids"] == ["wb-tags-1"]
    assert snapshot["webhook_id"] == "wb-stats-1"
    assert [(d["outcome"], d["webhook_id"], d["seq"]) for d in log] == [
        ("stored", "wb-tags-1", 1),
        ("stored", "wb-stats-1", 2),
        ("duplicate", "wb-tags-1", 3),
    ]


def test_a_reset_is_kept_on_disk_and_keeps_the_accounts(tmp_path: Path) -> None:
    with ServerThread(create_sandbox_crm_app(secrets={"acme": SECRET}, data_dir=tmp_path)) as one:
        connector = connect(one)
        connector.write(tags_synced())
        connector.close()
        httpx.delete(f"{one.url}/_sandbox/deliveries").raise_for_status()

    with ServerThread(create_sandbox_crm_app(data_dir=tmp_path)) as two:
        connector = connect(two)
        connector.write(tags_synced())  # new again after the reset
        connector.close()
        with httpx.Client(base_url=two.url, timeout=5) as sandbox:
            assert outcomes(sandbox) == [("stored", 200)]


def test_a_write_cut_short_by_a_kill_never_happened(tmp_path: Path) -> None:
    with ServerThread(create_sandbox_crm_app(secrets={"acme": SECRET}, data_dir=tmp_path)) as one:
        connector = connect(one)
        connector.write(tags_synced())
        connector.close()
    state_file = tmp_path / STATE_FILE_NAME
    with state_file.open("ab") as file:  # what a SIGKILL in the middle of a write leaves
        file.write(b'{"kind":"writeback","account":"acme","webhook_id":"wb-tor')

    with ServerThread(create_sandbox_crm_app(data_dir=tmp_path)) as two:
        connector = connect(two)
        connector.write(tags_synced("wb-tags-2", post_id="crm-post-2"))
        connector.close()
        with httpx.Client(base_url=two.url, timeout=5) as sandbox:
            posts = sandbox.get("/_sandbox/accounts/acme/posts").json()

    assert sorted(p["post_id"] for p in posts) == ["crm-post-1", "crm-post-2"]
    assert state_file.read_bytes().endswith(b"\n")
    assert b"wb-tor" not in state_file.read_bytes()


def test_the_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    create_sandbox_crm_app(secrets={"acme": SECRET}, data_dir=tmp_path)

    assert (tmp_path / STATE_FILE_NAME).stat().st_mode & 0o777 == 0o600
