"""The sandbox's request validation: one official file per Version, read only from our copy."""

from __future__ import annotations

import json

import pytest

from sandbox.ghl.spec import (
    API_VERSION,
    API_VERSION_V3,
    SPEC_DIR,
    SPEC_FILES,
    SpecValidator,
    _refuse_remote,
    read_vendored,
    spec_server_url,
)

STATISTICS = "/social-media-posting/statistics"
HEADERS = [("Authorization", "Bearer t")]
RANGE = {"startDate": "2026-03-01T00:00:00.000Z", "endDate": "2026-03-07T23:59:59.999Z"}


def errors(version: str, body: object, *, header_version: str | None = None) -> list[str]:
    return SpecValidator(version).request_errors(
        method="POST",
        path=STATISTICS,
        query=[("locationId", "loc")],
        headers=[*HEADERS, ("Version", header_version or version)],
        body=json.dumps(body).encode(),
        content_type="application/json",
    )


def test_each_version_has_its_own_file() -> None:
    assert SPEC_FILES[API_VERSION].name == "social-media-posting.json"
    assert SPEC_FILES[API_VERSION_V3].relative_to(SPEC_DIR).as_posix() == (
        "apps/v3/social-planner-v3.json"
    )
    assert spec_server_url(API_VERSION_V3) == "https://services.leadconnectorhq.com"


def test_v3_accepts_a_current_range() -> None:
    assert errors(API_VERSION_V3, {"profileIds": ["p"], "currentRange": RANGE}) == []


def test_v3_checks_the_range_and_the_profile_count() -> None:
    found = errors(
        API_VERSION_V3,
        {"profileIds": [f"p{i}" for i in range(101)], "currentRange": {"startDate": "x"}},
    )

    assert any(line.startswith("body profileIds:") for line in found), found
    assert any("endDate" in line for line in found), found
    assert any("'x' is not a 'date-time'" in line for line in found), found


def test_each_file_wants_its_own_version() -> None:
    found = errors(API_VERSION, {"profileIds": ["p"]}, header_version=API_VERSION_V3)

    assert any("Version" in line for line in found), found


def test_the_v3_common_schemas_resolve_to_our_copy() -> None:
    quirk = (SPEC_DIR / "apps" / "common" / "common-schemas.json").as_uri()

    loaded = read_vendored(quirk)

    assert "UnprocessableDTO" in loaded["components"]["schemas"]


@pytest.mark.parametrize(
    "uri", ["file:///elsewhere/schemas.json", f"{SPEC_DIR.as_uri()}/../../secrets.json"]
)
def test_nothing_outside_the_vendored_folder_is_read(uri: str) -> None:
    with pytest.raises(ValueError, match="outside the vendored"):
        read_vendored(uri)


def test_nothing_is_fetched() -> None:
    with pytest.raises(ValueError, match="resolve locally"):
        _refuse_remote("https://example.com/schema.json")


def test_an_unknown_version_has_no_validator() -> None:
    with pytest.raises(ValueError, match="1999-01-01"):
        SpecValidator("1999-01-01")
