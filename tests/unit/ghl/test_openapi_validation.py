"""The spec helper itself: it must accept what GHL documents and reject everything else."""

from __future__ import annotations

import json

import pytest

from tests.openapi_validation import (
    SpecValidator,
    SpecViolation,
    validate_request,
    validate_response,
)

HEADERS = {"Authorization": "Bearer t", "Version": "2021-07-28", "Content-Type": "application/json"}
V3_HEADERS = {**HEADERS, "Version": "v3"}
TAGS_URL = "http://127.0.0.1:8123/social-media-posting/loc_1/tags?limit=100&skip=0"
DETAILS_URL = "/social-media-posting/loc_1/tags/details"
STATS_URL = "/social-media-posting/statistics?locationId=loc_1"


def test_accepts_a_documented_request_on_any_host() -> None:
    validate_request("GET", TAGS_URL, HEADERS)
    validate_request("POST", DETAILS_URL, HEADERS, {"tagIds": ["a"]})
    validate_request("POST", STATS_URL, HEADERS, b'{"profileIds": ["p"]}')


def test_rejects_a_missing_version_header() -> None:
    headers = {key: value for key, value in HEADERS.items() if key != "Version"}
    with pytest.raises(SpecViolation, match="Missing required header parameter: Version"):
        validate_request("GET", TAGS_URL, headers)


def test_rejects_a_version_the_file_does_not_speak() -> None:
    with pytest.raises(SpecViolation, match="Version"):
        SpecValidator.for_version("2021-07-28").validate_request("GET", TAGS_URL, V3_HEADERS)


def test_rejects_a_missing_bearer_token() -> None:
    headers = {key: value for key, value in HEADERS.items() if key != "Authorization"}
    with pytest.raises(SpecViolation, match="Security"):
        validate_request("GET", TAGS_URL, headers)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"tagIds": "tag_1"}, "at tagIds: 'tag_1' is not of type 'array'"),
        ({}, "'tagIds' is a required property"),
        (None, "Missing required request body"),
    ],
)
def test_rejects_a_bad_body(body: object, problem: str) -> None:
    with pytest.raises(SpecViolation) as caught:
        validate_request("POST", DETAILS_URL, HEADERS, body)

    assert problem in str(caught.value)
    assert "apps/social-media-posting.json" in str(caught.value)


def test_rejects_statistics_without_location_or_profiles() -> None:
    with pytest.raises(SpecViolation) as caught:
        validate_request("POST", "/social-media-posting/statistics", HEADERS, {"profileIds": []})

    assert "locationId" in str(caught.value)
    assert "should be non-empty" in str(caught.value)


def test_rejects_an_unknown_path() -> None:
    with pytest.raises(SpecViolation, match="PathNotFound"):
        validate_request("GET", "/social-media-posting/loc_1/nothing", HEADERS)


def test_v3_adds_date_ranges_and_the_100_profile_limit() -> None:
    body = {
        "profileIds": ["p"],
        "currentRange": {
            "startDate": "2025-03-01T00:00:00.000Z",
            "endDate": "2025-03-31T23:59:59.999Z",
        },
    }
    validate_request("POST", STATS_URL, V3_HEADERS, body)
    with pytest.raises(SpecViolation, match="too long"):
        validate_request("POST", STATS_URL, V3_HEADERS, {"profileIds": ["p"] * 101})


def test_v3_checks_the_range_and_the_answer_against_the_v3_file() -> None:
    dates = {"startDate": "March", "endDate": "2025-03-31T23:59:59.999Z"}
    with pytest.raises(SpecViolation, match="'March' is not a 'date-time'"):
        validate_request(
            "POST", STATS_URL, V3_HEADERS, {"profileIds": ["p"], "currentRange": dates}
        )
    wrong = {"results": {"totals": {"posts": "many"}}}
    with pytest.raises(SpecViolation, match=r"social-planner-v3\.json") as caught:
        validate_response("POST", STATS_URL, 200, {}, wrong, request_headers=V3_HEADERS)
    assert "at results/totals/posts: 'many' is not of type 'number'" in str(caught.value)


def test_the_2021_07_28_file_lets_a_range_through() -> None:
    # Its body schema allows unknown properties: the sandbox refuses a range itself (422), as
    # GHL's whitelisting does, so that a client forgetting to speak v3 cannot pass unseen.
    body = {"profileIds": ["p"], "currentRange": {"startDate": "x"}}
    validate_request("POST", STATS_URL, HEADERS, body)


def test_v3_resolves_its_common_schemas_despite_the_upstream_layout() -> None:
    # The 401 answer of the v3 file is a $ref to ../common/common-schemas.json (the quirk).
    body = {"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"}
    validate_response("GET", TAGS_URL, 401, {}, body, version="v3")
    with pytest.raises(SpecViolation, match="is not of type 'string'"):
        validate_response("GET", TAGS_URL, 401, {}, {"statusCode": 401, "message": 5}, version="v3")


def test_accepts_the_documented_answer_and_rejects_a_wrong_shape() -> None:
    ok = {"success": True, "statusCode": 200, "message": "m", "results": {"tags": [], "count": 0}}
    validate_response("GET", TAGS_URL, 200, {"Content-Type": "application/json"}, json.dumps(ok))
    bad = {**ok, "results": {"tags": [{"_id": 5}]}}
    with pytest.raises(SpecViolation, match="at results/tags/0/_id: 5 is not of type 'string'"):
        validate_response("GET", TAGS_URL, 200, {"Content-Type": "application/json"}, bad)


def test_rejects_a_status_the_operation_does_not_have() -> None:
    # Version 2021-07-28 answers statistics with 201, v3 with 200.
    body: dict[str, object] = {"results": {"dayRange": []}}
    with pytest.raises(SpecViolation, match="Unknown response http status: 200"):
        validate_response("POST", STATS_URL, 200, {}, body)
    validate_response("POST", STATS_URL, 201, {}, body)
    validate_response("POST", STATS_URL, 200, {}, body, request_headers=V3_HEADERS)


def test_undocumented_error_statuses_must_carry_the_error_envelope() -> None:
    validate_response("GET", TAGS_URL, 429, {}, {"statusCode": 429, "message": "Too many requests"})
    validate_response("GET", TAGS_URL, 500, {}, {"statusCode": 500, "message": "Internal"})
    validate_response("GET", TAGS_URL, 502, {"Content-Type": "text/html"}, b"<html>proxy</html>")
    with pytest.raises(SpecViolation, match="'message' is a required property"):
        validate_response("GET", TAGS_URL, 429, {}, {"statusCode": 429})
    with pytest.raises(SpecViolation, match="statusCode 400 != HTTP 404"):
        validate_response("GET", TAGS_URL, 404, {}, {"statusCode": 400, "message": "x"})
    with pytest.raises(SpecViolation, match="not JSON"):
        validate_response("GET", TAGS_URL, 404, {"Content-Type": "text/html"}, b"<html>")
    with pytest.raises(SpecViolation, match="Unknown response http status: 302"):
        validate_response("GET", TAGS_URL, 302, {}, None)
