from __future__ import annotations

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
