from __future__ import annotations

import pytest

from ghl import endpoints
from tests.openapi_validation import SpecValidator


@pytest.mark.parametrize("version", ["2021-07-28", "v3"])
@pytest.mark.parametrize("endpoint", endpoints.ALL, ids=lambda endpoint: endpoint.operation_id)
def test_every_endpoint_is_in_the_official_file(endpoint: endpoints.Endpoint, version: str) -> None:
    paths = SpecValidator.for_version(version).data["paths"]

    assert endpoint.method.lower() in paths[endpoint.template]


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
