"""The sandbox's request validation: one official file per Version, read only from our copy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox.ghl.spec import (
    API_VERSION,
    API_VERSION_V3,
    OAUTH_SPEC,
    SPEC_DIR,
    SPEC_FILES,
    CachedSchemaValidators,
    SpecRequest,
    SpecValidator,
    _refuse_remote,
    describe,
    load_spec_file,
    read_spec_file,
    read_vendored,
    spec_file_server_url,
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


TAGS = "/social-media-posting/loc/tags"
DETAILS = "/social-media-posting/loc/tags/details"
V2 = [*HEADERS, ("Version", API_VERSION)]
V3 = [*HEADERS, ("Version", API_VERSION_V3)]
INSTAGRAM_COMMENTS = "/social-media-posting/comments/instagram"
FACEBOOK_COMMENTS = "/social-media-posting/comments/facebook"
AT_LOC = [("locationId", "loc")]
OAUTH = "oauth"
FORM = "application/x-www-form-urlencoded"
REFRESH = "grant_type=refresh_token&refresh_token=r&client_id=c&client_secret=s"


@dataclass(frozen=True)
class Case:
    """One request to the file of `spec` (a Version, or the OAuth file), valid or not."""

    valid: bool
    spec: str
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=lambda: list(V2))
    body: Any = None  # JSON, or a str sent as it is
    content_type: str = "application/json"

    @property
    def file(self) -> Path:
        return OAUTH_SPEC if self.spec == OAUTH else SPEC_FILES[self.spec]

    def request(self) -> SpecRequest:
        raw = (
            self.body if isinstance(self.body, str) or self.body is None else json.dumps(self.body)
        )
        return SpecRequest(
            host_url=spec_file_server_url(self.file),
            path=self.path,
            method=self.method.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(self.query),
                header=Headers(self.headers),
                cookie=ImmutableMultiDict(),
            ),
            content_type=self.content_type,
            body=None if raw is None else raw.encode(),
        )


# Good and bad requests of the operations the bridge calls, and of the OAuth file.
CASES = [
    Case(True, API_VERSION_V3, "POST", STATISTICS, [("locationId", "loc")], V3,
         {"profileIds": ["p"], "currentRange": RANGE}),
    Case(False, API_VERSION_V3, "POST", STATISTICS, [("locationId", "loc")], V3,
         {"profileIds": [f"p{i}" for i in range(101)], "currentRange": {"startDate": "x"}}),
    Case(False, API_VERSION_V3, "POST", STATISTICS, [], V3, {"profileIds": "p"}),
    Case(True, API_VERSION, "GET", TAGS, [("limit", "100"), ("skip", "0")]),
    Case(False, API_VERSION, "GET", TAGS, headers=[*HEADERS, ("Version", "2020-01-01")]),
    Case(False, API_VERSION, "GET", TAGS, headers=HEADERS),
    Case(True, API_VERSION, "POST", DETAILS, body={"tagIds": ["t1", "t2"]}),
    Case(False, API_VERSION, "POST", DETAILS, body={"tagIds": "t1"}),
    Case(False, API_VERSION, "POST", DETAILS),
    Case(True, API_VERSION, "GET", "/social-media-posting/loc/posts/p1"),
    Case(False, API_VERSION, "DELETE", "/social-media-posting/loc/nowhere"),
    # One parameter name, two places, two schemas: `platform` may be instagram for comments,
    # not for likes (each place has its own validator).
    Case(False, API_VERSION_V3, "POST", INSTAGRAM_COMMENTS, AT_LOC, V3, {}),
    Case(False, API_VERSION_V3, "POST", f"{INSTAGRAM_COMMENTS}/c1/like", AT_LOC, V3, {}),
    Case(True, API_VERSION_V3, "POST", f"{FACEBOOK_COMMENTS}/c1/like", AT_LOC, V3, {}),
    Case(True, OAUTH, "POST", "/oauth/token", headers=[], body=REFRESH, content_type=FORM),
    Case(False, OAUTH, "POST", "/oauth/token", headers=[], body="grant_type=x", content_type=FORM),
]  # fmt: skip


def _lines(api: OpenAPI, case: Case) -> list[str]:
    return [line for error in api.iter_request_errors(case.request()) for line in describe(error)]


def test_cached_validators_find_what_new_ones_find() -> None:
    # openapi-core as it comes (a validator built for every schema of every request) is the
    # reference: the sandbox's cached validators must accept and refuse exactly the same.
    reference = {
        case.file: OpenAPI(read_spec_file(case.file), config=Config(spec_validator_cls=None))
        for case in CASES
    }
    for _ in range(2):  # the second round runs on the validators the first one built
        for case in CASES:
            found = _lines(load_spec_file(case.file), case)
            assert found == _lines(reference[case.file], case), case
            assert (found == []) == case.valid, (case, found)


def test_each_schema_validator_is_built_once() -> None:
    factory = load_spec_file(SPEC_FILES[API_VERSION_V3]).config.schema_validators_factory
    assert isinstance(factory, CachedSchemaValidators)
    bad = {"profileIds": [f"p{i}" for i in range(101)], "currentRange": {"startDate": "x"}}

    first = errors(API_VERSION_V3, bad)
    built = factory.built
    assert errors(API_VERSION_V3, {"profileIds": ["p"], "currentRange": RANGE}) == []
    again = errors(API_VERSION_V3, bad)

    assert built > 0
    assert factory.built == built
    assert again == first
    assert any("'x' is not a 'date-time'" in line for line in again), again


def test_only_openapi_3_0_files_are_loaded(tmp_path: Path) -> None:
    spec = json.loads(SPEC_FILES[API_VERSION].read_text("utf-8"))
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**spec, "openapi": "3.1.0"}), "utf-8")

    with pytest.raises(ValueError, match=r"OpenAPI 3\.0 files only"):
        load_spec_file(newer)
