"""The sandbox GHL server: every answer checked against the official OpenAPI file."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.ghl import (
    API_VERSION,
    API_VERSION_V3,
    DEFAULT_LOCATION,
    DEFAULT_TOKEN,
    create_sandbox_ghl_app,
)
from sandbox.ghl.app import STATISTICS_MAX_DAYS
from sandbox.ghl.seed import seed_location
from tests.openapi_validation import validate_request, validate_response

DEMO_HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Version": API_VERSION}
V3_HEADERS = {**DEMO_HEADERS, "Version": API_VERSION_V3}
TAGS = f"/social-media-posting/{DEFAULT_LOCATION}/tags"
DETAILS = f"/social-media-posting/{DEFAULT_LOCATION}/tags/details"
ACCOUNTS = f"/social-media-posting/{DEFAULT_LOCATION}/accounts"
STATISTICS = "/social-media-posting/statistics"
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Max",
    "X-RateLimit-Remaining",
    "X-RateLimit-Interval-Milliseconds",
    "X-RateLimit-Limit-Daily",
    "X-RateLimit-Daily-Remaining",
)
DEMO = seed_location(DEFAULT_LOCATION)


@pytest.fixture
def app() -> Flask:
    return create_sandbox_ghl_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def call(
    client: FlaskClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    json: Any = None,
    headers: Mapping[str, str] = DEMO_HEADERS,
) -> TestResponse:
    """Send a GHL request; check the answer against the spec and its rate-limit headers."""
    url = f"{path}?{urlencode(query)}" if query else path
    response = client.open(url, method=method, headers=dict(headers), json=json)
    validate_response(
        method,
        url,
        response.status_code,
        dict(response.headers),
        response.get_data(),
        request_headers=headers,
    )
    for name in RATE_LIMIT_HEADERS:
        assert response.headers[name].isdigit(), name
    assert response.get_json()["traceId"]
    return response


def journal(client: FlaskClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get("/_sandbox/journal").get_json()
    return entries


# -- tags -----------------------------------------------------------------------------------


def test_tags_answer_the_spec_envelope_with_the_default_page_and_the_total_count(
    client: FlaskClient,
) -> None:
    body = call(client, "GET", TAGS).get_json()

    assert body["success"] is True
    assert body["statusCode"] == 200
    assert body["results"]["count"] == 250
    tags = body["results"]["tags"]
    assert len(tags) == 10
    assert [t["_id"] for t in tags] == [t.id for t in DEMO.tags[:10]]
    assert tags[0]["tag"] == DEMO.tags[0].name
    assert tags[0]["locationId"] == DEFAULT_LOCATION
    assert tags[0]["deleted"] is False


def test_tags_page_by_limit_and_skip_in_three_pages_of_100(client: FlaskClient) -> None:
    pages = [
        call(client, "GET", TAGS, query={"limit": "100", "skip": str(skip)}).get_json()
        for skip in (0, 100, 200)
    ]

    sizes = [len(page["results"]["tags"]) for page in pages]
    ids = [tag["_id"] for page in pages for tag in page["results"]["tags"]]
    assert sizes == [100, 100, 50]
    assert ids == [tag.id for tag in DEMO.tags]
    assert len(set(ids)) == 250
    assert {page["results"]["count"] for page in pages} == {250}


def test_tags_past_the_end_answer_an_empty_page(client: FlaskClient) -> None:
    body = call(client, "GET", TAGS, query={"limit": "100", "skip": "300"}).get_json()

    assert body["results"] == {"tags": [], "count": 250}


def test_tags_limit_is_capped_at_100(client: FlaskClient) -> None:
    body = call(client, "GET", TAGS, query={"limit": "1000"}).get_json()

    assert len(body["results"]["tags"]) == 100
    assert body["results"]["count"] == 250


def test_tags_search_text_filters_by_name_and_counts_the_matches(client: FlaskClient) -> None:
    expected = [tag.id for tag in DEMO.tags if "open house" in tag.name]

    body = call(client, "GET", TAGS, query={"searchText": "Open House", "limit": "100"}).get_json()

    assert [tag["_id"] for tag in body["results"]["tags"]] == expected
    assert body["results"]["count"] == len(expected) > 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "ten"}, "limit must be a number string"),
        ({"skip": "-1"}, "skip must be a number string"),
        ({"limit": "0"}, "limit must not be less than 1"),
    ],
)
def test_tags_refuse_a_limit_or_skip_that_is_not_a_count(
    client: FlaskClient, query: dict[str, str], message: str
) -> None:
    response = call(client, "GET", TAGS, query=query)

    assert response.status_code == 422
    assert response.get_json()["message"] == [message]


def test_tag_details_answer_201_with_the_known_tags_in_the_order_asked(
    client: FlaskClient,
) -> None:
    wanted = [DEMO.tags[7].id, "000000000000000000000000", DEMO.tags[3].id, DEMO.tags[7].id]

    response = call(client, "POST", DETAILS, json={"tagIds": wanted})

    assert response.status_code == 201
    body = response.get_json()
    assert body["statusCode"] == 201
    assert [tag["_id"] for tag in body["results"]["tags"]] == [DEMO.tags[7].id, DEMO.tags[3].id]
    assert body["results"]["count"] == 2


def test_tag_details_refuse_a_body_the_spec_does_not_allow_and_journal_why(
    client: FlaskClient,
) -> None:
    response = call(client, "POST", DETAILS, json={"tagIds": "not-a-list"})

    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "Unprocessable Entity"
    assert isinstance(body["message"], list)
    assert any("tagIds" in line for line in body["message"])
    (entry,) = journal(client)
    assert entry["response_status"] == 422
    assert entry["body"] == {"tagIds": "not-a-list"}
    assert entry["spec_errors"] == body["message"]


def test_tag_details_without_a_body_are_refused(client: FlaskClient) -> None:
    response = call(client, "POST", DETAILS)

    assert response.status_code == 422
    assert journal(client)[0]["spec_errors"]


# -- accounts and posts ---------------------------------------------------------------------


def test_accounts_list_platforms_with_profile_ids_one_without_and_a_group(
    client: FlaskClient,
) -> None:
    body = call(client, "GET", ACCOUNTS).get_json()

    accounts = body["results"]["accounts"]
    with_profile = [a for a in accounts if "profileId" in a]
    without_profile = [a for a in accounts if "profileId" not in a]
    assert {a["platform"] for a in with_profile} == {
        "facebook",
        "instagram",
        "linkedin",
        "google",
        "tiktok",
    }
    assert len(without_profile) == 1
    assert len({a["profileId"] for a in with_profile}) == len(with_profile)
    (group,) = body["results"]["groups"]
    assert group["accountIds"] == [a["id"] for a in accounts]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_demo_posts_carry_tag_ids_of_the_location(client: FlaskClient, number: int) -> None:
    path = f"/social-media-posting/{DEFAULT_LOCATION}/posts/post_demo_{number}"

    body = call(client, "GET", path).get_json()

    post = body["results"]["post"]
    assert post["_id"] == f"post_demo_{number}"
    assert post["locationId"] == DEFAULT_LOCATION
    assert len(post["tags"]) == 3
    assert all(DEMO.tag(tag_id) is not None for tag_id in post["tags"])


def test_an_unknown_post_is_a_400_not_a_500(client: FlaskClient) -> None:
    response = call(client, "GET", f"/social-media-posting/{DEFAULT_LOCATION}/posts/nope")

    assert response.status_code == 400
    assert response.get_json()["statusCode"] == 400


# -- statistics -----------------------------------------------------------------------------


def _profile_ids() -> list[str]:
    return [a.profile_id for a in DEMO.accounts if a.profile_id is not None]


def _statistics(client: FlaskClient, body: Any) -> dict[str, Any]:
    response = call(client, "POST", STATISTICS, query={"locationId": DEFAULT_LOCATION}, json=body)
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def _add(left: Any, right: Any) -> Any:
    """Sum two statistics results leaf by leaf (a key missing on one side counts as zero)."""
    if isinstance(left, dict) or isinstance(right, dict):
        left, right = left or {}, right or {}
        return {key: _add(left.get(key), right.get(key)) for key in left.keys() | right.keys()}
    if isinstance(left, list) or isinstance(right, list):
        left = left or [0] * len(right)
        right = right or [0] * len(left)
        return [_add(a, b) for a, b in zip(left, right, strict=True)]
    return (left or 0) + (right or 0)


def _additive_part(results: dict[str, Any]) -> dict[str, Any]:
    """Everything but the day names and the gender percentages (derived, not additive)."""
    kept = {key: value for key, value in results.items() if key != "dayRange"}
    gender = kept["demographics"]["gender"]["totals"]
    kept["demographics"] = {
        "age": kept["demographics"]["age"],
        "gender": {name: values["total"] for name, values in gender.items()},
    }
    return kept


def test_statistics_answer_201_with_seven_days_of_numbers(client: FlaskClient) -> None:
    body = _statistics(client, {"profileIds": _profile_ids()})

    results = body["results"]
    assert body["message"] == "Analytics Built Successfully"
    assert len(results["dayRange"]) == 7
    assert results["totals"]["posts"] > 0
    assert set(results["breakdowns"]["posts"]["platforms"]) == {
        "facebook",
        "instagram",
        "linkedin",
        "google",
        "tiktok",
    }
    for series in results["platformTotals"]["impressions"].values():
        assert len(series["series"]) == 7
        assert series["total"] == sum(series["series"])


def test_statistics_of_a_batch_are_the_sum_of_its_parts(client: FlaskClient) -> None:
    ids = _profile_ids()

    whole = _statistics(client, {"profileIds": ids})["results"]
    first = _statistics(client, {"profileIds": ids[:2]})["results"]
    rest = _statistics(client, {"profileIds": ids[2:]})["results"]

    assert _additive_part(whole) == _add(_additive_part(first), _additive_part(rest))


def test_statistics_ignore_unknown_profiles_and_filter_by_platform(client: FlaskClient) -> None:
    facebook = next(a.profile_id for a in DEMO.accounts if a.platform == "facebook")

    only_facebook = _statistics(client, {"profileIds": [facebook]})["results"]
    filtered = _statistics(
        client, {"profileIds": [*_profile_ids(), "unknown-profile"], "platforms": ["facebook"]}
    )["results"]

    assert filtered == only_facebook
    assert set(filtered["breakdowns"]["posts"]["platforms"]) == {"facebook"}


def test_statistics_refuse_more_than_100_profiles(client: FlaskClient) -> None:
    response = call(
        client,
        "POST",
        STATISTICS,
        query={"locationId": DEFAULT_LOCATION},
        json={"profileIds": [f"p{i}" for i in range(101)]},
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [None, {"profileIds": []}, {"profileIds": ["x"], "platforms": ["myspace"]}],
)
def test_statistics_refuse_a_missing_or_invalid_body(client: FlaskClient, body: Any) -> None:
    response = call(client, "POST", STATISTICS, query={"locationId": DEFAULT_LOCATION}, json=body)

    assert response.status_code == 422
    assert isinstance(response.get_json()["message"], list)


def test_statistics_need_the_location_in_the_query(client: FlaskClient) -> None:
    response = call(client, "POST", STATISTICS, json={"profileIds": _profile_ids()})

    assert response.status_code == 422
    assert any("locationId" in error for error in journal(client)[0]["spec_errors"])


@pytest.mark.parametrize("key", ["currentRange", "prevRange"])
def test_statistics_of_2021_07_28_refuse_a_range(client: FlaskClient, key: str) -> None:
    span = {"startDate": "2026-03-01T00:00:00.000Z", "endDate": "2026-03-07T23:59:59.999Z"}

    response = call(
        client,
        "POST",
        STATISTICS,
        query={"locationId": DEFAULT_LOCATION},
        json={"profileIds": _profile_ids(), key: span},
    )

    # Answering the last 7 days instead would hide a client that forgot to speak v3.
    assert response.status_code == 422
    assert response.get_json()["message"] == [f"property {key} should not exist"]


# -- statistics in v3 -----------------------------------------------------------------------


def _range(first: date, last: date) -> dict[str, str]:
    return {
        "startDate": f"{first.isoformat()}T00:00:00.000Z",
        "endDate": f"{last.isoformat()}T23:59:59.999Z",
    }


def _v3(client: FlaskClient, body: Any, *, status: int = 200) -> TestResponse:
    response = call(
        client,
        "POST",
        STATISTICS,
        query={"locationId": DEFAULT_LOCATION},
        json=body,
        headers=V3_HEADERS,
    )
    assert response.status_code == status, response.get_json()
    return response


def _v3_results(client: FlaskClient, first: date, last: date, **extra: Any) -> dict[str, Any]:
    body = {"profileIds": _profile_ids(), "currentRange": _range(first, last), **extra}
    results: dict[str, Any] = _v3(client, body).get_json()["results"]
    return results


def test_v3_statistics_answer_200_for_every_day_of_the_range(client: FlaskClient) -> None:
    first, last = date(2026, 2, 1), date(2026, 3, 2)  # 30 days across a month end

    results = _v3_results(client, first, last)

    assert len(results["dayRange"]) == 30
    assert results["dayRange"][:2] == ["Sun", "Mon"]  # 2026-02-01 is a Sunday
    assert len(results["postPerformance"]["impressions"]) == 30
    assert results["totals"]["impressions"] == sum(results["postPerformance"]["impressions"])
    for platform in results["postPerformance"]["posts"].values():
        assert len(platform) == 30
    for series in results["platformTotals"]["followers"].values():
        assert series["total"] == series["series"][-1]
    assert all(isinstance(value, int) for value in results["totals"].values())
    (entry,) = journal(client)
    assert entry["headers"]["Version"] == "v3"
    assert entry["spec_errors"] == []
    validate_request(
        "POST", f"{STATISTICS}?locationId={DEFAULT_LOCATION}", entry["headers"], entry["body"]
    )


def test_v3_statistics_of_one_day(client: FlaskClient) -> None:
    day = date(2024, 2, 29)

    results = _v3_results(client, day, day)

    assert results["dayRange"] == ["Thu"]
    assert len(results["postPerformance"]["likes"]) == 1


def test_v3_statistics_are_the_same_numbers_for_the_same_days(client: FlaskClient) -> None:
    first, last = date(2026, 1, 1), date(2026, 1, 14)

    whole = _v3_results(client, first, last)
    again = _v3_results(create_sandbox_ghl_app().test_client(), first, last)
    head = _v3_results(client, first, date(2026, 1, 7))
    tail = _v3_results(client, date(2026, 1, 8), last)

    assert whole == again
    for name in ("impressions", "likes", "comments"):
        assert whole["postPerformance"][name] == (
            head["postPerformance"][name] + tail["postPerformance"][name]
        )
    for name in ("posts", "likes", "impressions", "comments"):
        assert whole["totals"][name] == head["totals"][name] + tail["totals"][name]
    assert whole["totals"]["followers"] == tail["totals"]["followers"]


def test_v3_statistics_of_another_range_are_other_numbers(client: FlaskClient) -> None:
    march = _v3_results(client, date(2026, 3, 1), date(2026, 3, 7))
    april = _v3_results(client, date(2026, 4, 1), date(2026, 4, 7))

    assert march["postPerformance"] != april["postPerformance"]


def test_v3_statistics_of_a_batch_are_the_sum_of_its_parts(client: FlaskClient) -> None:
    ids = _profile_ids()
    span = _range(date(2026, 1, 5), date(2026, 1, 20))

    def results(profiles: list[str]) -> dict[str, Any]:
        answer = _v3(client, {"profileIds": profiles, "currentRange": span}).get_json()
        return _additive_part(answer["results"])

    assert results(ids) == _add(results(ids[:3]), results(ids[3:]))


def test_v3_statistics_compare_only_with_a_prev_range(client: FlaskClient) -> None:
    first, last = date(2026, 2, 8), date(2026, 2, 14)

    alone = _v3_results(client, first, last)
    compared = _v3_results(
        client, first, last, prevRange=_range(date(2026, 2, 1), date(2026, 2, 7))
    )
    earlier = _v3_results(client, date(2026, 2, 1), date(2026, 2, 7))

    assert "totalChange" not in alone["breakdowns"]["posts"]
    assert all("change" not in entry for entry in alone["breakdowns"]["engagement"].values())
    posts = compared["breakdowns"]["posts"]
    assert posts["total"] == alone["breakdowns"]["posts"]["total"]
    assert posts["totalChange"] == posts["total"] - earlier["breakdowns"]["posts"]["total"]
    facebook = compared["breakdowns"]["impressions"]["platforms"]["facebook"]
    before = earlier["breakdowns"]["impressions"]["platforms"]["facebook"]["value"]
    assert facebook["change"] == facebook["value"] - before


def test_v3_statistics_without_a_range_are_the_2021_07_28_answer(client: FlaskClient) -> None:
    body = {"profileIds": _profile_ids()}

    v3 = _v3(client, body).get_json()["results"]
    legacy = _statistics(client, body)["results"]
    today = datetime.now(UTC).date()
    asked = _v3_results(client, today - timedelta(days=7), today - timedelta(days=1))

    assert v3 == legacy
    # The default period is the last 7 days with today excluded, as GHL documents it.
    assert asked["postPerformance"] == legacy["postPerformance"]
    assert asked["totals"] == legacy["totals"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "currentRange": {
                    "startDate": "2026-03-02T00:00:00Z",
                    "endDate": "2026-03-01T00:00:00Z",
                }
            },
            "currentRange.endDate must be after currentRange.startDate",
        ),
        (
            {"currentRange": _range(date(2016, 1, 1), date(2026, 12, 31))},
            f"currentRange must not span more than {STATISTICS_MAX_DAYS} days",
        ),
        (
            {"prevRange": _range(date(2026, 1, 1), date(2026, 1, 7))},
            "prevRange can only be provided with currentRange",
        ),
        (
            {
                "currentRange": _range(date(2026, 1, 8), date(2026, 1, 14)),
                "prevRange": {
                    "startDate": "2026-01-07T00:00:00Z",
                    "endDate": "2026-01-01T00:00:00Z",
                },
            },
            "prevRange.endDate must be after prevRange.startDate",
        ),
    ],
)
def test_v3_statistics_refuse_a_range_that_cannot_be_answered(
    client: FlaskClient, body: dict[str, Any], message: str
) -> None:
    response = _v3(client, {"profileIds": _profile_ids(), **body}, status=422)

    assert response.get_json()["message"] == [message]


@pytest.mark.parametrize(
    "current_range",
    [
        {"startDate": "2026-03-01T00:00:00.000Z"},
        {"startDate": "yesterday", "endDate": "2026-03-01T00:00:00.000Z"},
        "2026-03-01",
    ],
)
def test_v3_statistics_refuse_a_range_off_the_spec_and_journal_why(
    client: FlaskClient, current_range: Any
) -> None:
    body = {"profileIds": _profile_ids(), "currentRange": current_range}

    response = _v3(client, body, status=422)

    (entry,) = journal(client)
    assert entry["spec_errors"]
    assert response.get_json()["message"] == entry["spec_errors"]
    assert all("currentRange" in line for line in entry["spec_errors"])


def test_v3_statistics_refuse_more_than_100_profiles_by_the_v3_file(client: FlaskClient) -> None:
    _v3(client, {"profileIds": [f"p{i}" for i in range(101)]}, status=422)

    assert any("profileIds" in line for line in journal(client)[0]["spec_errors"])


@pytest.mark.parametrize(
    "path", [TAGS, ACCOUNTS, f"/social-media-posting/{DEFAULT_LOCATION}/posts/post_demo_1"]
)
def test_other_operations_answer_only_in_2021_07_28(client: FlaskClient, path: str) -> None:
    response = call(client, "GET", path, headers=V3_HEADERS)

    assert response.status_code == 400
    assert "send Version: 2021-07-28" in response.get_json()["message"]


# -- determinism ----------------------------------------------------------------------------


def _snapshot(client: FlaskClient) -> list[Any]:
    """The results of every endpoint (statistics without the day names, which follow the date)."""
    tags = call(client, "GET", TAGS, query={"limit": "100", "skip": "200"})
    accounts = call(client, "GET", ACCOUNTS)
    post = call(client, "GET", f"/social-media-posting/{DEFAULT_LOCATION}/posts/post_demo_3")
    statistics = _statistics(client, {"profileIds": _profile_ids()})
    return [
        tags.get_json()["results"],
        accounts.get_json()["results"],
        post.get_json()["results"],
        _additive_part(statistics["results"]),
    ]


def test_the_same_seed_gives_the_same_data_on_every_start() -> None:
    first = _snapshot(create_sandbox_ghl_app().test_client())
    second = _snapshot(create_sandbox_ghl_app().test_client())

    assert first == second


def test_another_seed_gives_other_data() -> None:
    default = _snapshot(create_sandbox_ghl_app().test_client())
    other = _snapshot(create_sandbox_ghl_app(seed=1).test_client())

    assert default[0] != other[0]
    assert default[3] != other[3]


# -- authentication and version -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Version": API_VERSION},
        {"Version": API_VERSION, "Authorization": "Bearer not-a-token"},
        {"Version": API_VERSION, "Authorization": f"Basic {DEFAULT_TOKEN}"},
    ],
)
def test_an_unknown_or_missing_token_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    response = call(client, "GET", TAGS, headers=headers)

    assert response.status_code == 401
    body = response.get_json()
    assert body["statusCode"] == 401
    assert body["error"] == "Unauthorized"
    assert body["message"] == "Invalid JWT"


def test_a_token_of_another_location_is_401(client: FlaskClient) -> None:
    client.post("/_sandbox/locations", json={"location_id": "loc_other", "token": "pit-other"})

    response = call(client, "GET", "/social-media-posting/loc_other/tags")

    assert response.status_code == 401
    assert "location" in response.get_json()["message"]


def test_the_token_is_checked_before_the_version(client: FlaskClient) -> None:
    response = call(client, "GET", TAGS, headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


@pytest.mark.parametrize("version", [None, "v3", "2021-04-15"])
def test_a_missing_or_other_version_is_refused_and_journaled(
    client: FlaskClient, version: str | None
) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    if version is not None:
        headers["Version"] = version

    response = call(client, "GET", TAGS, headers=headers)

    assert response.status_code == 400
    (entry,) = journal(client)
    assert entry["response_status"] == 400
    assert any("Version" in error for error in entry["spec_errors"])


def test_the_requests_the_sandbox_accepts_are_valid_for_the_spec(client: FlaskClient) -> None:
    call(client, "GET", TAGS, query={"limit": "5", "searchText": "x"})
    call(client, "POST", DETAILS, json={"tagIds": [DEMO.tags[0].id]})

    for entry in journal(client):
        assert entry["spec_errors"] == []
        url = f"{entry['path']}?{urlencode(entry['query'])}"
        validate_request(entry["method"], url, entry["headers"], entry["body"])


# -- rate limit -----------------------------------------------------------------------------


def test_the_101st_request_in_the_window_is_429_and_other_locations_are_not_affected(
    client: FlaskClient,
) -> None:
    client.post("/_sandbox/locations", json={"location_id": "loc_b", "token": "pit-b", "tags": 5})
    # The first 100 answers are the accounts validated elsewhere; only their headers matter here.
    remaining = [
        int(client.get(ACCOUNTS, headers=DEMO_HEADERS).headers["X-RateLimit-Remaining"])
        for _ in range(100)
    ]

    refused = call(client, "GET", ACCOUNTS)
    other = call(
        client,
        "GET",
        "/social-media-posting/loc_b/accounts",
        headers={"Authorization": "Bearer pit-b", "Version": API_VERSION},
    )

    assert remaining == list(range(99, -1, -1))
    assert refused.status_code == 429
    assert refused.get_json()["statusCode"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Max"] == "100"
    assert refused.headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert refused.headers["X-RateLimit-Daily-Remaining"] == str(200_000 - 100)
    assert other.status_code == 200
    assert other.headers["X-RateLimit-Remaining"] == "99"


def test_the_window_slides() -> None:
    client = create_sandbox_ghl_app(rate_limit=2, rate_window_seconds=0.3).test_client()
    statuses = [call(client, "GET", ACCOUNTS).status_code for _ in range(3)]

    time.sleep(0.35)

    assert statuses == [200, 200, 429]
    assert call(client, "GET", ACCOUNTS).status_code == 200


def test_refused_requests_do_not_use_the_rate_limit(client: FlaskClient) -> None:
    call(client, "GET", TAGS, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})

    response = call(client, "GET", TAGS)

    assert response.headers["X-RateLimit-Remaining"] == "99"


# -- faults ---------------------------------------------------------------------------------


def test_injected_500s_answer_the_error_envelope_then_the_real_answer(
    client: FlaskClient,
) -> None:
    queued = client.post(
        "/_sandbox/faults", json={"path_contains": "/tags", "status": 500, "times": 2}
    )

    statuses = [call(client, "GET", TAGS).status_code for _ in range(3)]

    assert queued.status_code == 201
    assert statuses == [500, 500, 200]
    assert [e["response_status"] for e in journal(client)] == [500, 500, 200]
    assert journal(client)[0]["response_body"]["statusCode"] == 500


def test_an_injected_429_carries_retry_after(client: FlaskClient) -> None:
    client.post(
        "/_sandbox/faults", json={"path_contains": "/accounts", "status": 429, "retry_after": 3}
    )

    response = call(client, "GET", ACCOUNTS)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_a_fault_only_hits_matching_paths_and_methods(client: FlaskClient) -> None:
    client.post(
        "/_sandbox/faults", json={"path_contains": "/tags", "status": 503, "method": "POST"}
    )

    untouched = call(client, "GET", TAGS)
    hit = call(client, "POST", DETAILS, json={"tagIds": []})

    assert untouched.status_code == 200
    assert hit.status_code == 503
    assert client.get("/_sandbox/faults").get_json() == {"faults": []}


def test_a_latency_fault_delays_then_answers(client: FlaskClient) -> None:
    client.post(
        "/_sandbox/faults", json={"path_contains": "/accounts", "status": None, "delay_ms": 200}
    )

    started = time.monotonic()
    response = call(client, "GET", ACCOUNTS)

    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200


def test_deleting_faults_clears_them(client: FlaskClient) -> None:
    client.post("/_sandbox/faults", json={"path_contains": "", "status": 500, "times": 5})

    cleared = client.delete("/_sandbox/faults").get_json()

    assert cleared == {"cleared": 1}
    assert call(client, "GET", TAGS).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"path_contains": "/tags", "status": 200},
        {"path_contains": "/tags", "status": 500, "times": 0},
        {"path_contains": "/tags", "status": None},
        {"path_contains": "/tags", "status": 500, "colour": "red"},
    ],
)
def test_a_fault_that_cannot_work_is_refused(client: FlaskClient, fault: dict[str, Any]) -> None:
    response = client.post("/_sandbox/faults", json=fault)

    assert response.status_code == 400
    assert response.get_json()["error"]


# -- journal and admin API ------------------------------------------------------------------


def test_the_journal_records_the_exchange_with_the_token_redacted(client: FlaskClient) -> None:
    answer = call(client, "POST", DETAILS, json={"tagIds": [DEMO.tags[1].id]})

    (entry,) = journal(client)

    assert entry["method"] == "POST"
    assert entry["path"] == DETAILS
    assert entry["query"] == {}
    assert entry["headers"]["Authorization"] == "Bearer ***"
    assert entry["headers"]["Version"] == API_VERSION
    assert DEFAULT_TOKEN not in str(entry)
    assert entry["body"] == {"tagIds": [DEMO.tags[1].id]}
    assert entry["response_status"] == 201
    assert entry["response_body"] == answer.get_json()
    assert entry["response_headers"]["X-RateLimit-Remaining"] == "99"
    assert entry["spec_errors"] == []
    assert entry["trace_id"] == answer.get_json()["traceId"]


def test_the_journal_filters_by_path_and_can_be_cleared(client: FlaskClient) -> None:
    call(client, "GET", TAGS)
    call(client, "GET", ACCOUNTS)

    only_accounts = client.get("/_sandbox/journal?path_contains=/accounts").get_json()
    cleared = client.delete("/_sandbox/journal").get_json()

    assert [e["path"] for e in only_accounts] == [ACCOUNTS]
    assert cleared == {"cleared": 2}
    assert journal(client) == []


def test_new_locations_get_their_own_token_and_seed(client: FlaskClient) -> None:
    created = client.post(
        "/_sandbox/locations", json={"location_id": "loc_acme", "token": "pit-acme", "tags": 120}
    )
    again = client.post(
        "/_sandbox/locations", json={"location_id": "loc_acme", "token": "pit-acme-2"}
    )
    taken = client.post(
        "/_sandbox/locations", json={"location_id": "loc_x", "token": DEFAULT_TOKEN}
    )

    acme = {"Authorization": "Bearer pit-acme-2", "Version": API_VERSION}
    tags = call(client, "GET", "/social-media-posting/loc_acme/tags", headers=acme)
    post = call(client, "GET", "/social-media-posting/loc_acme/posts/post_acme_1", headers=acme)
    assert created.status_code == 201
    assert created.get_json()["tags"] == 120
    assert again.status_code == 200
    assert taken.status_code == 409
    assert tags.get_json()["results"]["count"] == 120
    assert post.status_code == 200
    assert call(client, "GET", TAGS, headers=acme).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{}, {"location_id": "loc_y"}, {"location_id": "loc_y", "token": "t", "tags": -1}],
)
def test_a_location_without_id_or_token_is_refused(client: FlaskClient, body: Any) -> None:
    assert client.post("/_sandbox/locations", json=body).status_code == 400


def test_health_and_admin_calls_stay_out_of_the_journal(client: FlaskClient) -> None:
    health = client.get("/_sandbox/health")

    assert health.status_code == 200
    assert health.get_json()["status"] == "ok"
    assert DEFAULT_LOCATION in health.get_json()["locations"]
    assert journal(client) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/social-media-posting/loc_demo/unknown"), ("DELETE", TAGS)],
)
def test_unknown_routes_answer_a_404_envelope(client: FlaskClient, method: str, path: str) -> None:
    # Not validated against the spec: these paths and methods are not in it.
    response = client.open(path, method=method, headers=DEMO_HEADERS)

    assert response.status_code == 404
    assert response.get_json()["message"] == f"Cannot {method} {path}"
    assert response.get_json()["error"] == "Not Found"
    assert response.headers["X-RateLimit-Remaining"] == "100"
    assert journal(client)[0]["spec_errors"]
