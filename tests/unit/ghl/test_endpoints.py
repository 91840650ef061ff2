from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ghl import endpoints
from tests.openapi_validation import SpecValidator


@pytest.mark.parametrize("endpoint", endpoints.ALL, ids=lambda endpoint: endpoint.operation_id)
def test_every_endpoint_is_in_the_file_of_its_version(endpoint: endpoints.Endpoint) -> None:
    operations = SpecValidator.for_version(endpoint.version).data["paths"][endpoint.template]
    operation = operations[endpoint.method.lower()]

    assert operation["operationId"] == endpoint.operation_id
    (version,) = [p for p in operation["parameters"] if p["name"] == "Version"]
    assert version["schema"]["enum"] == [endpoint.version]


def test_only_statistics_of_a_date_range_speak_v3() -> None:
    v3 = [endpoint for endpoint in endpoints.ALL if endpoint.version == endpoints.VERSION_V3]

    assert v3 == [endpoints.STATISTICS_RANGE]
    operation = SpecValidator.for_version("v3").data["paths"][v3[0].template]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "currentRange" in body["properties"]


def test_path_fills_and_encodes_every_parameter() -> None:
    assert endpoints.POST.path(locationId="loc 1", id="a/b?c") == (
        "/social-media-posting/loc%201/posts/a%2Fb%3Fc"
    )
    assert endpoints.STATISTICS.path() == "/social-media-posting/statistics"


def test_path_refuses_missing_extra_or_empty_parameters() -> None:
    with pytest.raises(ValueError, match="expected parameters"):
        endpoints.POST.path(locationId="loc")
    with pytest.raises(ValueError, match="expected parameters"):
        endpoints.TAGS.path(locationId="loc", id="x")
    with pytest.raises(ValueError, match="locationId must not be empty"):
        endpoints.TAGS.path(locationId="")


# -- scopes ----------------------------------------------------------------------------------


def _operation(spec_file_version: str, endpoint: endpoints.Endpoint) -> dict[str, Any]:
    paths = SpecValidator.for_version(spec_file_version).data["paths"]
    operation: dict[str, Any] = paths[endpoint.template][endpoint.method.lower()]
    return operation


def _file_scopes(operation: Mapping[str, Any]) -> list[str]:
    """Every scope an operation's `security` names, under any scheme."""
    return [
        scope
        for requirement in operation.get("security") or []
        for scopes in requirement.values()
        for scope in scopes
    ]


# Operations whose `security` names no scope in the official files (`[]`, or none at all);
# their scope comes from GHL's scope list. Should a file start naming one, this fails so that
# the endpoint's scope is checked against it.
SCOPES_NOT_IN_THE_FILES = {"get-tags-location-id", "get-tags-by-ids", "get-post"}


@pytest.mark.parametrize("endpoint", endpoints.ALL, ids=lambda endpoint: endpoint.operation_id)
def test_every_endpoint_needs_the_scope_its_file_names(endpoint: endpoints.Endpoint) -> None:
    # Both files describe every operation we call; a scope named in either must be ours.
    named = {
        scope
        for version in (endpoints.VERSION_2021_07_28, endpoints.VERSION_V3)
        if endpoint.template in SpecValidator.for_version(version).data["paths"]
        for scope in _file_scopes(_operation(version, endpoint))
    }

    if endpoint.operation_id in SCOPES_NOT_IN_THE_FILES:
        assert named == set()
    else:
        assert named == {endpoint.scope}


def test_reading_a_post_needs_the_scope_the_files_give_to_reading_posts() -> None:
    for version in (endpoints.VERSION_2021_07_28, endpoints.VERSION_V3):
        listing = SpecValidator.for_version(version).data["paths"][
            "/social-media-posting/{locationId}/posts/list"
        ]["post"]
        assert _file_scopes(listing) == [endpoints.POST.scope]


def test_both_statistics_need_the_scope_v3_names() -> None:
    # The 2021-07-28 file declares no security for statistics at all; v3 names the scope.
    assert "security" not in _operation(endpoints.VERSION_2021_07_28, endpoints.STATISTICS)
    assert _file_scopes(_operation(endpoints.VERSION_V3, endpoints.STATISTICS_RANGE)) == [
        endpoints.STATISTICS.scope
    ]
    assert endpoints.STATISTICS.scope == endpoints.STATISTICS_RANGE.scope


def test_tags_and_tag_details_need_the_tag_scope() -> None:
    assert endpoints.TAGS.scope == endpoints.TAG_DETAILS.scope == "socialplanner/tag.readonly"


def test_an_install_asks_for_every_scope_the_flows_need_in_the_issues_order() -> None:
    assert " ".join(endpoints.OAUTH_SCOPES) == (
        "socialplanner/tag.readonly socialplanner/statistics.readonly "
        "socialplanner/account.readonly socialplanner/post.readonly"
    )
    assert set(endpoints.OAUTH_SCOPES) == {endpoint.scope for endpoint in endpoints.ALL}


# -- OAuth operations ------------------------------------------------------------------------

OAUTH_FILE = SpecValidator("apps/oauth.json")


@pytest.mark.parametrize(
    "endpoint", [endpoints.OAUTH_TOKEN, endpoints.OAUTH_LOCATION_TOKEN], ids=lambda e: e.template
)
def test_the_oauth_endpoints_are_in_the_oauth_file(endpoint: endpoints.Endpoint) -> None:
    operation = OAUTH_FILE.data["paths"][endpoint.template][endpoint.method.lower()]

    assert operation["operationId"] == endpoint.operation_id
    assert list(operation["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    assert endpoint.path() == endpoint.template


def test_the_token_endpoint_takes_no_bearer_token_and_no_version() -> None:
    operation = OAUTH_FILE.data["paths"]["/oauth/token"]["post"]

    assert "security" not in operation
    assert operation["parameters"] == []
    assert endpoints.OAUTH_TOKEN.scope is None


def test_location_tokens_need_an_agency_token_with_oauth_write_and_the_version() -> None:
    operation = OAUTH_FILE.data["paths"]["/oauth/locationToken"]["post"]

    assert _file_scopes(operation) == [endpoints.OAUTH_LOCATION_TOKEN.scope] == ["oauth.write"]
    (version,) = [p for p in operation["parameters"] if p["name"] == "Version"]
    assert version["schema"]["enum"] == [endpoints.OAUTH_LOCATION_TOKEN.version]
