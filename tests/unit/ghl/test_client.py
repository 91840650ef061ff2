"""GHLClient against a fake GHL (httpx.MockTransport).

Every request the client sends, and every canned answer, is checked by FakeGHL against the
official OpenAPI file of the request's `Version` (see fake_ghl.py).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from typing import Any

import httpx
import pytest

from ghl import GHLClient
from schemas.ghl import Account, Tag
from socialbridge.config import Settings
from socialbridge.errors import AuthError, PermanentError, RetryableError, ScopeError
from tests.openapi_validation import SpecViolation
from tests.unit.ghl.conftest import TOKEN
from tests.unit.ghl.fake_ghl import (
    BASE_URL,
    LOCATION,
    TRACE_ID,
    FakeGHL,
    error_response,
    json_response,
    tag_json,
)

# -- requests ---------------------------------------------------------------------------------


def test_every_request_carries_auth_version_and_accept(client: GHLClient, fake: FakeGHL) -> None:
    client.list_accounts(LOCATION)

    headers = fake.requests[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Version"] == "2021-07-28"
    assert headers["Accept"] == "application/json"


def test_each_call_speaks_the_version_of_its_endpoint(client: GHLClient, fake: FakeGHL) -> None:
    client.list_tags(LOCATION, page_size=300)
    client.tag_details(LOCATION, ["tag_001"])
    client.list_accounts(LOCATION)
    client.get_post(LOCATION, "post_1")
    client.statistics(LOCATION, ["prof_fb"])
    client.statistics(LOCATION, ["prof_fb"], date_range=(dt.date(2025, 3, 1), dt.date(2025, 3, 7)))

    sent = [(r.method, r.url.path, r.headers["Version"]) for r in fake.requests]
    assert sent == [
        ("GET", "/social-media-posting/loc_1/tags", "2021-07-28"),
        ("POST", "/social-media-posting/loc_1/tags/details", "2021-07-28"),
        ("GET", "/social-media-posting/loc_1/accounts", "2021-07-28"),
        ("GET", "/social-media-posting/loc_1/posts/post_1", "2021-07-28"),
        ("POST", "/social-media-posting/statistics", "2021-07-28"),
        ("POST", "/social-media-posting/statistics", "v3"),
    ]


def test_path_parameters_are_percent_encoded(client: GHLClient, fake: FakeGHL) -> None:
    with pytest.raises(PermanentError):
        client.get_post(LOCATION, "../accounts")

    assert fake.requests[0].url.raw_path == b"/social-media-posting/loc_1/posts/..%2Faccounts"


# -- tags -------------------------------------------------------------------------------------


def test_list_tags_reads_every_page(client: GHLClient, fake: FakeGHL) -> None:
    tags = client.list_tags(LOCATION)

    assert len(tags) == 250
    assert tags[0] == Tag(id="tag_001", name="Tag 1", raw=tag_json(1))
    assert tags[0].raw == tag_json(1)
    assert [tag.id for tag in tags] == [f"tag_{index:03d}" for index in range(1, 251)]
    assert [(r.url.params["limit"], r.url.params["skip"]) for r in fake.requests] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]


def test_list_tags_with_a_smaller_page_size(client: GHLClient, fake: FakeGHL) -> None:
    tags = client.list_tags(LOCATION, page_size=40)

    assert len(tags) == 250
    assert len(fake.requests) == 7


def test_list_tags_stops_when_the_total_count_is_reached() -> None:
    fake = FakeGHL(tag_count=200, count_mode="total")
    with httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake)) as http:
        tags = GHLClient(http, token=TOKEN).list_tags(LOCATION)

    assert len(tags) == 200
    assert len(fake.requests) == 2  # the total said there is no third page


@pytest.mark.parametrize("count_mode", ["page", None])
def test_list_tags_without_a_total_reads_until_a_short_page(count_mode: str | None) -> None:
    fake = FakeGHL(tag_count=200, count_mode=count_mode)
    with httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake)) as http:
        tags = GHLClient(http, token=TOKEN).list_tags(LOCATION)

    assert len(tags) == 200
    assert [r.url.params["skip"] for r in fake.requests] == ["0", "100", "200"]


def test_list_tags_of_an_empty_location(client: GHLClient, fake: FakeGHL) -> None:
    fake.tags = []

    assert client.list_tags(LOCATION) == []
    assert len(fake.requests) == 1


def test_list_tags_stops_when_the_server_ignores_skip(client: GHLClient, fake: FakeGHL) -> None:
    fake.ignore_skip = True

    tags = client.list_tags(LOCATION)

    assert len(tags) == 100
    assert len(fake.requests) == 2


def test_list_tags_refuses_an_empty_page_size(client: GHLClient) -> None:
    with pytest.raises(ValueError, match="page_size"):
        client.list_tags(LOCATION, page_size=0)


def test_tag_details_posts_the_ids_and_accepts_201(client: GHLClient, fake: FakeGHL) -> None:
    tags = client.tag_details(LOCATION, ["tag_002", "tag_010"])

    assert [(tag.id, tag.name) for tag in tags] == [("tag_002", "Tag 2"), ("tag_010", "Tag 10")]
    assert fake.requests[0].method == "POST"
    assert fake.requests[0].url.path == "/social-media-posting/loc_1/tags/details"
    assert fake.bodies() == [{"tagIds": ["tag_002", "tag_010"]}]


def test_tag_details_of_no_ids_sends_nothing(client: GHLClient, fake: FakeGHL) -> None:
    assert client.tag_details(LOCATION, []) == []
    assert fake.requests == []


def test_tag_details_refuses_a_lone_string(client: GHLClient) -> None:
    with pytest.raises(TypeError, match="tag_ids"):
        client.tag_details(LOCATION, "tag_001")


# -- accounts and posts -----------------------------------------------------------------------


def test_list_accounts(client: GHLClient) -> None:
    accounts = client.list_accounts(LOCATION)

    assert [(a.id, a.profile_id, a.platform, a.name) for a in accounts] == [
        ("acc_fb", "prof_fb", "facebook", "Facebook Page"),
        ("acc_ig", "prof_ig", "instagram", "Instagram"),
        ("acc_gmb", None, "google", "Google Business"),
    ]
    assert isinstance(accounts[0], Account)
    assert accounts[0].raw["meta"] == {"canDelete": True}


def test_get_post(client: GHLClient, fake: FakeGHL) -> None:
    post = client.get_post(LOCATION, "post_1")

    assert post.id == "post_1"
    assert post.tag_ids == ("tag_001", "tag_002")
    assert post.raw["summary"] == "Open house on Saturday"
    assert fake.requests[0].url.path == "/social-media-posting/loc_1/posts/post_1"


def test_get_post_unknown_is_permanent(client: GHLClient) -> None:
    with pytest.raises(PermanentError) as caught:
        client.get_post(LOCATION, "post_404")

    assert caught.value.message == "Post not found"
    assert caught.value.status == 400
    assert caught.value.trace_id == TRACE_ID


# -- statistics -------------------------------------------------------------------------------


def test_statistics_with_version_2021_07_28(client: GHLClient, fake: FakeGHL) -> None:
    stats = client.statistics(LOCATION, ["prof_fb", "prof_ig"], platforms=["facebook", "instagram"])

    request = fake.requests[0]
    assert (request.method, request.url.path) == ("POST", "/social-media-posting/statistics")
    assert request.url.params["locationId"] == LOCATION
    assert fake.bodies() == [
        {"profileIds": ["prof_fb", "prof_ig"], "platforms": ["facebook", "instagram"]}
    ]
    assert stats.day_range == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert stats.totals["posts"] == 10  # the fake scales by the number of profiles
    assert stats.platforms["facebook"]["likes"] == 40
    assert stats.daily["posts"] == [2, 2, 2, 0, 2, 0, 2]


def test_statistics_without_platforms_sends_only_profile_ids(
    client: GHLClient, fake: FakeGHL
) -> None:
    client.statistics(LOCATION, ["prof_fb"])

    assert fake.bodies() == [{"profileIds": ["prof_fb"]}]


def test_statistics_of_a_date_range_speak_v3_with_current_range(
    client: GHLClient, fake: FakeGHL
) -> None:
    stats = client.statistics(
        LOCATION,
        ["prof_fb"],
        platforms=["facebook"],
        date_range=(dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
    )

    request = fake.requests[0]
    assert request.headers["Version"] == "v3"
    assert request.url.params["locationId"] == LOCATION
    assert fake.bodies() == [
        {
            "profileIds": ["prof_fb"],
            "platforms": ["facebook"],
            "currentRange": {
                "startDate": "2025-03-01T00:00:00.000Z",
                "endDate": "2025-03-31T23:59:59.999Z",
            },
        }
    ]
    assert stats.totals["impressions"] == 700


def test_statistics_of_one_day(client: GHLClient, fake: FakeGHL) -> None:
    day = dt.date(2024, 2, 29)

    client.statistics(LOCATION, ["prof_fb"], date_range=(day, day))

    assert fake.bodies()[0]["currentRange"] == {
        "startDate": "2024-02-29T00:00:00.000Z",
        "endDate": "2024-02-29T23:59:59.999Z",
    }


def test_statistics_date_range_counts_whole_utc_days(client: GHLClient, fake: FakeGHL) -> None:
    start = dt.datetime(2025, 3, 1, 18, 30, tzinfo=dt.UTC)

    client.statistics(LOCATION, ["prof_fb"], date_range=(start, dt.date(2025, 3, 2)))

    assert fake.bodies()[0]["currentRange"]["startDate"] == "2025-03-01T00:00:00.000Z"


def test_statistics_date_range_must_be_ordered(client: GHLClient, fake: FakeGHL) -> None:
    with pytest.raises(ValueError, match="after"):
        client.statistics(LOCATION, ["p"], date_range=(dt.date(2025, 3, 2), dt.date(2025, 3, 1)))
    assert fake.requests == []


@pytest.mark.parametrize("count", [0, 101])
def test_statistics_takes_1_to_100_profiles(client: GHLClient, fake: FakeGHL, count: int) -> None:
    with pytest.raises(ValueError, match="profile_ids"):
        client.statistics(LOCATION, [f"p{index}" for index in range(count)])
    assert fake.requests == []


def test_statistics_with_100_profiles(client: GHLClient, fake: FakeGHL) -> None:
    stats = client.statistics(LOCATION, [f"p{index}" for index in range(100)])

    assert len(fake.bodies()[0]["profileIds"]) == 100
    assert stats.totals["posts"] == 500


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_auth_errors(client: GHLClient, fake: FakeGHL, status: int) -> None:
    fake.queue(error_response(status, "Invalid JWT"))

    with pytest.raises(AuthError) as caught:
        client.list_accounts(LOCATION)

    assert (caught.value.status, caught.value.message) == (status, "Invalid JWT")
    assert caught.value.system == "ghl"


def test_a_plain_token_refused_is_one_request(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(error_response(401, "Invalid JWT"))

    with pytest.raises(AuthError):
        client.list_accounts(LOCATION)

    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_scope_refusal_names_the_scope_of_the_endpoint(
    client: GHLClient, fake: FakeGHL, status: int
) -> None:
    fake.queue(error_response(status, "The token is not authorized for this scope."))

    with pytest.raises(ScopeError) as caught:
        client.get_post(LOCATION, "post_1")

    assert caught.value.scope == "socialplanner/post.readonly"
    assert caught.value.message == (
        "the token lacks scope socialplanner/post.readonly "
        "(GET /social-media-posting/loc_1/posts/post_1): "
        "The token is not authorized for this scope."
    )
    assert (caught.value.status, caught.value.trace_id) == (status, TRACE_ID)


def test_a_scope_refusal_of_statistics_leaves_the_query_out(
    client: GHLClient, fake: FakeGHL
) -> None:
    fake.queue(error_response(401, "the token is NOT authorized for this scope"))

    with pytest.raises(ScopeError) as caught:
        client.statistics(LOCATION, ["prof_fb"])

    assert caught.value.scope == "socialplanner/statistics.readonly"
    assert "(POST /social-media-posting/statistics)" in caught.value.message


class CountingSource:
    """A TokenSource that hands out `token` and answers `newer` to every refresh."""

    def __init__(self, newer: str | None) -> None:
        self.newer = newer
        self.rejected: list[str] = []

    def current(self) -> str:
        return TOKEN

    def refresh(self, rejected: str) -> str | None:
        self.rejected.append(rejected)
        return self.newer


def test_a_403_is_not_refreshed(http: httpx.Client, fake: FakeGHL) -> None:
    source = CountingSource("newer-token")
    fake.queue(error_response(403, "Forbidden"))

    with pytest.raises(AuthError):
        GHLClient(http, token=source).list_accounts(LOCATION)

    assert source.rejected == []
    assert len(fake.requests) == 1


def test_a_scope_401_is_not_refreshed(http: httpx.Client, fake: FakeGHL) -> None:
    source = CountingSource("newer-token")
    fake.queue(error_response(401, "The token is not authorized for this scope."))

    with pytest.raises(ScopeError):
        GHLClient(http, token=source).list_tags(LOCATION)

    assert source.rejected == []
    assert len(fake.requests) == 1


def test_a_401_is_refreshed_and_the_request_repeated_with_the_newer_token(
    http: httpx.Client, fake: FakeGHL
) -> None:
    source = CountingSource("newer-token")
    fake.queue(error_response(401, "Invalid JWT"))

    accounts = GHLClient(http, token=source).list_accounts(LOCATION)

    assert len(accounts) == 3
    assert source.rejected == [TOKEN]
    assert [r.headers["Authorization"] for r in fake.requests] == [
        f"Bearer {TOKEN}",
        "Bearer newer-token",
    ]


def test_repr_hides_a_sources_token(http: httpx.Client) -> None:
    assert TOKEN not in repr(GHLClient(http, token=CountingSource(None)))


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_permanent_with_ghl_message(
    client: GHLClient, fake: FakeGHL, status: int
) -> None:
    fake.queue(error_response(status, "Location not found"))

    with pytest.raises(PermanentError) as caught:
        client.list_tags(LOCATION)

    assert (caught.value.status, caught.value.message) == (status, "Location not found")


def test_422_messages_are_joined(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(error_response(422, ["tagIds must be an array", "tagIds should not be empty"]))

    with pytest.raises(PermanentError) as caught:
        client.tag_details(LOCATION, ["x"])

    assert caught.value.message == "tagIds must be an array; tagIds should not be empty"
    assert caught.value.status == 422


def test_429_with_retry_after_seconds(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(error_response(429, "Too many requests", {"Retry-After": "7"}))

    with pytest.raises(RetryableError) as caught:
        client.list_tags(LOCATION)

    assert caught.value.retry_after == 7
    assert caught.value.status == 429


def test_429_with_retry_after_date(client: GHLClient, fake: FakeGHL) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    fake.queue(
        error_response(
            429, "Slow down", {"Retry-After": email.utils.format_datetime(when, usegmt=True)}
        )
    )

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_429_without_retry_after_waits_one_interval(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(
        error_response(
            429,
            "Too many requests",
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "2500"},
        )
    )

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.retry_after == 2.5


def test_429_with_the_daily_budget_spent_waits_until_utc_midnight(
    client: GHLClient, fake: FakeGHL
) -> None:
    fake.queue(error_response(429, "Daily limit", {"X-RateLimit-Daily-Remaining": "0"}))

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    assert caught.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(client: GHLClient, fake: FakeGHL, status: int) -> None:
    fake.queue(error_response(status, "Internal server error"))

    with pytest.raises(RetryableError) as caught:
        client.get_post(LOCATION, "post_1")

    assert caught.value.status == status
    assert caught.value.retry_after is None
    assert caught.value.trace_id == TRACE_ID


def test_503_with_retry_after(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(error_response(503, "Maintenance", {"Retry-After": "30"}))

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.retry_after == 30


def test_a_proxy_error_page_is_retryable(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(
        httpx.Response(
            502, content=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}
        )
    )

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.status == 502
    assert "Bad Gateway" in caught.value.message


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_network_failures_are_retryable_not_httpx(
    client: GHLClient, fake: FakeGHL, exc: Exception
) -> None:
    fake.queue(exc)

    with pytest.raises(RetryableError) as caught:
        client.list_tags(LOCATION)

    assert type(exc).__name__ in caught.value.message
    assert "/social-media-posting/loc_1/tags" in caught.value.message


def test_an_unusable_base_url_is_permanent() -> None:
    settings = Settings.from_mapping({"ghl_base_url": "http://ghl.invalid"})
    with (
        GHLClient.from_settings(
            settings, TOKEN, transport=httpx.MockTransport(_raise_unsupported)
        ) as ghl,
        pytest.raises(PermanentError, match="UnsupportedProtocol"),
    ):
        ghl.list_accounts(LOCATION)


def _raise_unsupported(request: httpx.Request) -> httpx.Response:
    raise httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'.")


def test_a_2xx_that_is_not_json_is_retryable(client: GHLClient, fake: FakeGHL) -> None:
    # Off spec on purpose: what a captive proxy or a maintenance page answers.
    fake.queue(
        httpx.Response(
            200, content=b"<html>Maintenance</html>", headers={"Content-Type": "text/html"}
        ),
        off_spec=True,
    )

    with pytest.raises(RetryableError, match="expected a JSON body, got text/html"):
        client.list_accounts(LOCATION)


def test_a_2xx_json_failing_our_schema_is_permanent_and_names_the_field(
    client: GHLClient, fake: FakeGHL
) -> None:
    # Valid for the spec (it requires nothing in a tag) but useless to us: a tag without an id.
    tag = tag_json(1)
    del tag["_id"]
    body = {"success": True, "statusCode": 200, "message": "ok", "results": {"tags": [tag]}}
    fake.queue(json_response(200, body))

    with pytest.raises(PermanentError) as caught:
        client.list_tags(LOCATION)

    assert "results.tags.0._id" in caught.value.message
    assert caught.value.status == 200


def test_an_answer_without_results_is_permanent(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(json_response(200, {"success": True, "statusCode": 200, "message": "ok"}))

    with pytest.raises(PermanentError, match="results: Missing data"):
        client.get_post(LOCATION, "post_1")


def test_a_redirect_is_permanent(client: GHLClient, fake: FakeGHL) -> None:
    # Off spec on purpose: a misconfigured GHL_BASE_URL answered by something else.
    fake.queue(httpx.Response(301, headers={"Location": "https://example.com/"}), off_spec=True)

    with pytest.raises(PermanentError, match="GHL_BASE_URL"):
        client.list_accounts(LOCATION)


def test_trace_id_from_a_header_when_the_body_has_none(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(
        json_response(500, {"statusCode": 500, "message": "boom"}, {"x-trace-id": "hdr-trace"})
    )

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.trace_id == "hdr-trace"


# -- logging ----------------------------------------------------------------------------------


def _ghl_requests(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        getattr(record, "event_fields", {})
        for record in caplog.records
        if record.getMessage() == "ghl.request"
    ]


def test_every_call_is_logged_without_query_or_token(
    client: GHLClient, fake: FakeGHL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    client.list_tags(LOCATION)
    client.statistics(LOCATION, ["prof_fb"])
    fake.queue(error_response(401, "Invalid JWT"))
    with pytest.raises(AuthError):
        client.list_accounts(LOCATION)
    fake.queue(httpx.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError):
        client.list_accounts(LOCATION)

    logged = _ghl_requests(caplog)
    assert len(logged) == len(fake.requests) == 6
    first = logged[0]
    assert first["method"] == "GET"
    assert first["path"] == "/social-media-posting/loc_1/tags"
    assert first["status"] == 200
    assert first["trace_id"] == TRACE_ID
    assert first["rate_limit_remaining"] == 97
    assert isinstance(first["elapsed_ms"], float)
    assert logged[3]["path"] == "/social-media-posting/statistics"  # no ?locationId=…
    assert logged[4]["status"] == 401
    assert (logged[5]["status"], logged[5]["error"]) == (None, "ReadTimeout")
    for record in caplog.records:
        assert TOKEN not in repr(vars(record))
    assert TOKEN not in caplog.text


def test_repr_hides_the_token(client: GHLClient) -> None:
    assert TOKEN not in repr(client)
    assert BASE_URL in repr(client)


# -- construction -----------------------------------------------------------------------------


def test_from_settings_uses_base_url_and_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return FakeGHL()(request)

    settings = Settings.from_mapping({"ghl_base_url": "http://127.0.0.1:9", "ghl_timeout": "3.5"})
    ghl = GHLClient.from_settings(settings, TOKEN, transport=httpx.MockTransport(handler))
    with ghl:
        ghl.list_accounts(LOCATION)

    assert str(seen[0].url) == "http://127.0.0.1:9/social-media-posting/loc_1/accounts"
    assert seen[0].extensions["timeout"] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    assert seen[0].headers["Version"] == "2021-07-28"
    with pytest.raises(RuntimeError):  # the client created it, so the client closed it
        ghl.list_accounts(LOCATION)


def test_close_leaves_an_injected_http_client_open(http: httpx.Client) -> None:
    with GHLClient(http, token=TOKEN) as ghl:
        ghl.list_accounts(LOCATION)

    assert not http.is_closed


def test_an_empty_token_is_refused(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="token"):
        GHLClient(http, token="")


def _request(version: str, path: str, body: Any = None) -> httpx.Request:
    return httpx.Request(
        "POST" if body is not None else "GET",
        f"{BASE_URL}{path}",
        headers={"Authorization": f"Bearer {TOKEN}", "Version": version},
        json=body,
    )


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (_request("1999-01-01", f"/social-media-posting/{LOCATION}/accounts"), "Version"),
        (
            _request(
                "v3",
                f"/social-media-posting/statistics?locationId={LOCATION}",
                {"profileIds": ["p"], "currentRange": {"startDate": "2025-03-01T00:00:00Z"}},
            ),
            "endDate",
        ),
    ],
    ids=["unknown-version", "v3-range-without-end"],
)
def test_the_fake_rejects_a_request_off_the_spec(
    fake: FakeGHL, request_: httpx.Request, problem: str
) -> None:
    # Guards the guard: a request off its version's file must fail the test, not pass silently.
    with pytest.raises(SpecViolation, match=problem):
        fake(request_)


def test_no_httpx_exception_hides_in_the_chain(client: GHLClient, fake: FakeGHL) -> None:
    fake.queue(httpx.ConnectError("connection refused"))

    with pytest.raises(RetryableError) as caught:
        client.list_accounts(LOCATION)

    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_list_tags_keeps_a_tag_repeated_across_pages_once(client: GHLClient, fake: FakeGHL) -> None:
    # A tag created while we read moves the rest one place down: tag_100 shows up twice.
    fake.queue(
        json_response(
            200,
            {
                "success": True,
                "statusCode": 200,
                "message": "ok",
                "results": {"tags": [tag_json(i) for i in range(1, 101)], "count": 201},
            },
        ),
        json_response(
            200,
            {
                "success": True,
                "statusCode": 200,
                "message": "ok",
                "results": {"tags": [tag_json(i) for i in range(100, 200)], "count": 201},
            },
        ),
        json_response(
            200,
            {
                "success": True,
                "statusCode": 200,
                "message": "ok",
                "results": {"tags": [tag_json(200), tag_json(201)], "count": 201},
            },
        ),
    )

    tags = client.list_tags(LOCATION)

    assert [tag.id for tag in tags] == [f"tag_{index:03d}" for index in range(1, 202)]
    assert [r.url.params["skip"] for r in fake.requests] == ["0", "100", "200"]
