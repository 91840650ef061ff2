"""GHLOAuth against the sandbox GHL in process, every exchange checked against apps/oauth.json.

The few answers the sandbox cannot be made to give (a v3-style refusal without an OAuth code,
an echoed token, a broken body) are canned with httpx.MockTransport, for this one class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ghl.endpoints import OAUTH_SCOPES, SCOPE_LOCATION_TOKEN
from ghl.oauth import GHLOAuth, TokenGrant
from sandbox.ghl import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.ghl.oauth import SANDBOX_COMPANY_ID, SANDBOX_USER_ID
from socialbridge.config import Settings
from socialbridge.errors import (
    AuthError,
    OAuthGrantError,
    PermanentError,
    RetryableError,
    ScopeError,
)
from tests.openapi_validation import SpecViolation
from tests.unit.ghl.sandbox_ghl import AUTHORIZE_URL, REDIRECT_URI, SandboxGHL

LOCATION = "loc_demo"
AGENCY_SCOPES = (*OAUTH_SCOPES, SCOPE_LOCATION_TOKEN)


@pytest.fixture
def sandbox() -> Iterator[SandboxGHL]:
    sandbox = SandboxGHL()
    yield sandbox
    sandbox.close()


@pytest.fixture
def oauth(sandbox: SandboxGHL) -> GHLOAuth:
    return sandbox.oauth()


def secrets_of(*grants: TokenGrant) -> list[str]:
    return [value for grant in grants for value in (grant.access_token, grant.refresh_token)]


# -- the install page ------------------------------------------------------------------------


def test_authorize_url_asks_for_a_code_with_the_flows_scopes(oauth: GHLOAuth) -> None:
    url = oauth.authorize_url(
        authorize_url="https://marketplace.example/v2/oauth/chooselocation",
        redirect_uri=REDIRECT_URI,
        state="st-1",
    )

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "marketplace.example",
        "/v2/oauth/chooselocation",
    )
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "redirect_uri": [REDIRECT_URI],
        "client_id": [SANDBOX_CLIENT_ID],
        "scope": [
            "socialplanner/tag.readonly socialplanner/statistics.readonly "
            "socialplanner/account.readonly socialplanner/post.readonly"
        ],
        "state": ["st-1"],
    }
    assert "%20" in parts.query
    assert SANDBOX_CLIENT_SECRET not in url


def test_authorize_url_keeps_a_query_the_page_already_has(oauth: GHLOAuth) -> None:
    url = oauth.authorize_url(
        authorize_url="https://m.example/choose?lang=en",
        redirect_uri=REDIRECT_URI,
        state="s",
        scopes=["a.readonly"],
    )

    query = parse_qs(urlsplit(url).query)
    assert query["lang"] == ["en"]
    assert query["scope"] == ["a.readonly"]


def test_the_sandbox_install_page_shows_what_authorize_url_asks(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    url = oauth.authorize_url(authorize_url=AUTHORIZE_URL, redirect_uri=REDIRECT_URI, state="s")

    page = sandbox.http.get(url)

    assert page.status_code == 200
    for scope in OAUTH_SCOPES:
        assert scope in page.text
    assert f'value="{LOCATION}"' in page.text


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"redirect_uri": "ftp://x"}, "redirect_uri"),
        ({"state": ""}, "state"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["a", ""]}, "scopes"),
    ],
)
def test_authorize_url_refuses_what_cannot_work(
    oauth: GHLOAuth, options: dict[str, Any], problem: str
) -> None:
    arguments = {"authorize_url": AUTHORIZE_URL, "redirect_uri": REDIRECT_URI, "state": "s"}
    with pytest.raises(ValueError, match=problem):
        oauth.authorize_url(**{**arguments, **options})


def test_authorize_url_refuses_a_lone_string_of_scopes(oauth: GHLOAuth) -> None:
    with pytest.raises(TypeError, match="scopes"):
        oauth.authorize_url(
            authorize_url=AUTHORIZE_URL, redirect_uri=REDIRECT_URI, state="s", scopes="a b"
        )


# -- the code exchange -----------------------------------------------------------------------


def test_exchange_code_gives_the_location_grant(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    before = datetime.now(UTC)
    grant = sandbox.install(oauth)
    after = datetime.now(UTC)

    assert grant.access_token
    assert grant.refresh_token
    assert grant.scopes == OAUTH_SCOPES
    assert grant.user_type == "Location"
    assert grant.location_id == LOCATION
    assert grant.company_id == SANDBOX_COMPANY_ID
    assert grant.user_id == SANDBOX_USER_ID
    assert grant.approved_locations == ()
    assert grant.expires_at.tzinfo is not None
    day = timedelta(seconds=86_400)
    assert before + day <= grant.expires_at <= after + day
    # The grant calls the Social Planner.
    assert sandbox.client(grant.access_token).list_accounts(LOCATION)


def test_exchange_code_sends_exactly_the_form_of_the_file(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    code = sandbox.code(oauth)

    oauth.exchange_code(code, redirect_uri=REDIRECT_URI)

    [sent] = sandbox.transport.to("/oauth/token")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in sent.headers
    assert "version" not in sent.headers  # the token operation declares no Version
    assert sent.form == {
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": code,
        "user_type": "Location",
        "redirect_uri": REDIRECT_URI,
    }


def test_a_code_works_once(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    code = sandbox.code(oauth)
    oauth.exchange_code(code, redirect_uri=REDIRECT_URI)

    with pytest.raises(OAuthGrantError) as caught:
        oauth.exchange_code(code, redirect_uri=REDIRECT_URI)

    assert (caught.value.error, caught.value.status) == ("invalid_grant", 400)
    assert code not in str(caught.value)


def test_a_code_for_another_redirect_uri_is_invalid_grant(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    code = sandbox.code(oauth)

    with pytest.raises(OAuthGrantError, match="redirect_uri") as caught:
        oauth.exchange_code(code, redirect_uri="https://elsewhere.example/callback")

    assert caught.value.error == "invalid_grant"


def test_the_expiry_counts_from_the_moment_asked(sandbox: SandboxGHL) -> None:
    asked = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 3600})
    oauth = GHLOAuth(
        sandbox.http,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        clock=lambda: asked,
    )

    grant = sandbox.install(oauth)

    assert grant.expires_at == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("user_type", ["location", "Agency", ""])
def test_an_unknown_user_type_is_refused_before_sending(
    sandbox: SandboxGHL, oauth: GHLOAuth, user_type: str
) -> None:
    with pytest.raises(ValueError, match="user_type"):
        oauth.exchange_code("code", redirect_uri=REDIRECT_URI, user_type=user_type)
    with pytest.raises(ValueError, match="user_type"):
        oauth.refresh("rt", user_type=user_type)

    assert sandbox.transport.sent == []


# -- refresh: single-use rotation ------------------------------------------------------------


def test_refresh_rotates_the_pair_and_a_second_use_is_invalid_grant(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    first = sandbox.install(oauth)

    second = oauth.refresh(first.refresh_token)

    assert second.access_token not in (first.access_token, "")
    assert second.refresh_token not in (first.refresh_token, "")
    assert (second.location_id, second.scopes) == (LOCATION, OAUTH_SCOPES)
    [sent] = sandbox.transport.to("/oauth/token")[1:]
    assert sent.form == {
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": first.refresh_token,
        "user_type": "Location",
    }

    with pytest.raises(OAuthGrantError) as caught:
        oauth.refresh(first.refresh_token)

    assert (caught.value.error, caught.value.status) == ("invalid_grant", 400)
    assert "refresh token is invalid" in caught.value.message
    assert caught.value.trace_id
    assert sandbox.counts()["refresh_reuses"] == 1
    # The new refresh token still works; the old access token stays valid until it expires.
    third = oauth.refresh(second.refresh_token)
    assert sandbox.client(third.access_token).list_accounts(LOCATION)


def test_a_refreshed_token_calls_the_social_planner(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 0})
    expired = sandbox.install(oauth)
    with pytest.raises(AuthError):
        sandbox.client(expired.access_token).list_tags(LOCATION)
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 60})

    fresh = oauth.refresh(expired.refresh_token)

    assert sandbox.client(fresh.access_token).list_tags(LOCATION)


def test_a_revoked_install_refreshes_no_more(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    grant = sandbox.install(oauth)
    sandbox.admin("POST", "/oauth/revoke", {"location_id": LOCATION})

    with pytest.raises(OAuthGrantError) as caught:
        oauth.refresh(grant.refresh_token)

    assert caught.value.error == "invalid_grant"


def test_a_wrong_client_secret_is_invalid_client(sandbox: SandboxGHL) -> None:
    grant = sandbox.install(sandbox.oauth())
    wrong = sandbox.oauth(client_secret="not-the-secret")

    with pytest.raises(OAuthGrantError) as caught:
        wrong.refresh(grant.refresh_token)

    assert (caught.value.error, caught.value.status) == ("invalid_client", 401)
    assert isinstance(caught.value, AuthError)
    assert "not-the-secret" not in str(caught.value)
    # Refused before the grant was looked at: the refresh token is still good.
    assert sandbox.oauth().refresh(grant.refresh_token).access_token


def test_an_unknown_client_is_invalid_client(sandbox: SandboxGHL) -> None:
    unknown = GHLOAuth(sandbox.http, client_id="nobody", client_secret="x")

    with pytest.raises(OAuthGrantError) as caught:
        unknown.exchange_code("sbx-code-x", redirect_uri=REDIRECT_URI)

    assert caught.value.error == "invalid_client"


def test_a_company_install_is_refused_as_a_location_refresh(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    agency = sandbox.install(oauth, location_id=None, scopes=AGENCY_SCOPES)

    with pytest.raises(OAuthGrantError, match="user_type") as caught:
        oauth.refresh(agency.refresh_token, user_type="Location")

    assert caught.value.error == "invalid_grant"
    assert oauth.refresh(agency.refresh_token, user_type="Company").user_type == "Company"


# -- location tokens from an agency token ----------------------------------------------------


def test_an_agency_grant_mints_a_location_token(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    agency = sandbox.install(oauth, location_id=None, scopes=AGENCY_SCOPES)
    assert (agency.user_type, agency.location_id) == ("Company", None)
    assert agency.company_id == SANDBOX_COMPANY_ID
    assert agency.approved_locations == (LOCATION,)

    minted = oauth.location_token(
        agency.access_token, company_id=SANDBOX_COMPANY_ID, location_id=LOCATION
    )

    assert (minted.user_type, minted.location_id) == ("Location", LOCATION)
    assert minted.scopes == AGENCY_SCOPES
    assert minted.access_token != agency.access_token
    assert sandbox.client(minted.access_token).list_accounts(LOCATION)
    [sent] = sandbox.transport.to("/oauth/locationToken")
    assert sent.form == {"companyId": SANDBOX_COMPANY_ID, "locationId": LOCATION}
    assert sent.headers["authorization"] == f"Bearer {agency.access_token}"
    assert sent.headers["version"] == "2021-07-28"


def test_minting_without_oauth_write_is_a_scope_error(sandbox: SandboxGHL, oauth: GHLOAuth) -> None:
    agency = sandbox.install(oauth, location_id=None, scopes=OAUTH_SCOPES)

    with pytest.raises(ScopeError) as caught:
        oauth.location_token(
            agency.access_token, company_id=SANDBOX_COMPANY_ID, location_id=LOCATION
        )

    assert caught.value.scope == "oauth.write"
    assert "the token lacks scope oauth.write (POST /oauth/locationToken)" in str(caught.value)


def test_minting_for_a_location_not_approved_is_invalid_request(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    agency = sandbox.install(oauth, location_id=None, scopes=AGENCY_SCOPES)

    with pytest.raises(OAuthGrantError) as caught:
        oauth.location_token(
            agency.access_token, company_id=SANDBOX_COMPANY_ID, location_id="loc_elsewhere"
        )

    assert (caught.value.error, caught.value.status) == ("invalid_request", 400)


def test_minting_with_a_dead_agency_token_is_an_auth_error(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    with pytest.raises(AuthError) as caught:
        oauth.location_token("sbx-at-unknown", company_id=SANDBOX_COMPANY_ID, location_id=LOCATION)

    assert type(caught.value) is AuthError
    assert caught.value.status == 401
    assert "sbx-at-unknown" not in str(caught.value)


def test_minting_with_a_location_token_is_an_auth_error(
    sandbox: SandboxGHL, oauth: GHLOAuth
) -> None:
    location = sandbox.install(oauth, scopes=AGENCY_SCOPES)

    with pytest.raises(AuthError) as caught:
        oauth.location_token(
            location.access_token, company_id=SANDBOX_COMPANY_ID, location_id=LOCATION
        )

    assert not isinstance(caught.value, ScopeError | OAuthGrantError)


# -- outages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_outage_of_the_token_endpoint_is_retryable(
    sandbox: SandboxGHL, oauth: GHLOAuth, status: int
) -> None:
    grant = sandbox.install(oauth)
    sandbox.admin(
        "POST", "/faults", {"path_contains": "/oauth/token", "status": status, "retry_after": 4}
    )

    with pytest.raises(RetryableError) as caught:
        oauth.refresh(grant.refresh_token)

    assert (caught.value.status, caught.value.retry_after) == (status, 4)
    # Nothing was rotated: the same refresh token works once GHL is back.
    assert oauth.refresh(grant.refresh_token).access_token


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")],
)
def test_network_failures_are_retryable_and_unchained(exc: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    oauth = canned(fail)

    with pytest.raises(RetryableError) as caught:
        oauth.refresh("rt-secret-1")

    assert "POST /oauth/token" in caught.value.message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# -- answers only a canned transport gives ---------------------------------------------------


def canned(handler: Any) -> GHLOAuth:
    http = httpx.Client(base_url="https://ghl.example", transport=httpx.MockTransport(handler))
    return GHLOAuth(http, client_id="cid", client_secret="csecret-1")


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = "text/html" if isinstance(body, bytes) else "application/json"
        return httpx.Response(
            status, content=content, headers={"Content-Type": kind, **(headers or {})}
        )

    return handler


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        # apps/v3/oauth-v3.json's own examples: no OAuth code, only the message.
        (
            400,
            {"statusCode": 400, "message": "Invalid grant: refresh token is invalid"},
            "invalid_grant",
        ),
        (400, {"statusCode": 400, "message": "Missing parameter: clientId"}, "invalid_request"),
        # A 401 of the token endpoint can only be about the client.
        (
            401,
            {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"},
            "invalid_client",
        ),
        (
            400,
            {"error": "unauthorized_client", "error_description": "no refresh"},
            "unauthorized_client",
        ),
    ],
)
def test_refusals_without_or_with_an_oauth_code(status: int, body: Any, code: str) -> None:
    with pytest.raises(OAuthGrantError) as caught:
        canned(answer(status, body)).refresh("rt-secret-1")

    assert caught.value.error == code
    assert caught.value.status == status


def test_a_400_that_names_no_grant_problem_is_permanent() -> None:
    body = {"statusCode": 400, "message": "Location is not active", "error": "Bad Request"}

    with pytest.raises(PermanentError, match="Location is not active"):
        canned(answer(400, body)).refresh("rt-secret-1")


def test_a_422_is_permanent() -> None:
    body = {"statusCode": 422, "message": ["grant_type must be valid"], "error": "Unprocessable"}

    with pytest.raises(PermanentError) as caught:
        canned(answer(422, body)).refresh("rt-secret-1")

    assert caught.value.status == 422


def test_an_echoed_secret_never_reaches_the_message() -> None:
    body = {
        "error": "invalid_grant",
        "error_description": "refresh token rt-secret-1 of client csecret-1 is invalid",
    }

    with pytest.raises(OAuthGrantError) as caught:
        canned(answer(400, body)).refresh("rt-secret-1")

    assert "rt-secret-1" not in str(caught.value)
    assert "csecret-1" not in str(caught.value)
    assert "refresh token *** of client *** is invalid" in caught.value.message


def test_a_2xx_that_is_not_json_is_retryable() -> None:
    with pytest.raises(RetryableError, match="expected a JSON body"):
        canned(answer(200, b"<html>maintenance</html>")).refresh("rt-secret-1")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"refresh_token": "r", "expires_in": 10, "userId": "u"}, "access_token"),
        ({"access_token": "a", "refresh_token": "r", "userId": "u"}, "expires_in"),
        ({"access_token": "a", "refresh_token": "r", "expires_in": -1}, "expires_in"),
        ({"access_token": "a", "expires_in": 10, "userId": "u"}, "refresh_token"),
    ],
)
def test_a_token_answer_we_cannot_use_is_permanent_and_names_the_field(
    body: dict[str, Any], field: str
) -> None:
    with pytest.raises(PermanentError, match=field) as caught:
        canned(answer(200, body)).refresh("rt-secret-1")

    assert "'a'" not in str(caught.value)


def test_a_location_token_answer_without_a_refresh_token_is_kept() -> None:
    body = {"access_token": "a", "expires_in": 10, "scope": "x y", "locationId": "L", "userId": "u"}

    grant = canned(answer(200, body)).location_token("agency", company_id="C", location_id="L")

    assert (grant.refresh_token, grant.user_type, grant.scopes) == ("", "Location", ("x", "y"))


# -- secrets stay out of sight ---------------------------------------------------------------


def test_no_secret_in_repr_str_or_logs(
    sandbox: SandboxGHL, oauth: GHLOAuth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = sandbox.code(oauth)
    grant = oauth.exchange_code(code, redirect_uri=REDIRECT_URI)
    rotated = oauth.refresh(grant.refresh_token)
    with pytest.raises(OAuthGrantError) as reused:
        oauth.refresh(grant.refresh_token)
    agency = sandbox.install(oauth, location_id=None, scopes=AGENCY_SCOPES)
    minted = oauth.location_token(
        agency.access_token, company_id=SANDBOX_COMPANY_ID, location_id=LOCATION
    )

    secrets = [code, SANDBOX_CLIENT_SECRET, *secrets_of(grant, rotated, agency, minted)]
    shown = [repr(grant), str(grant), repr(oauth), str(reused.value), repr(reused.value)]
    oauth_lines = [r for r in caplog.records if r.getMessage() == "ghl.oauth"]
    assert len(oauth_lines) == 5
    for secret in secrets:
        assert all(secret not in text for text in shown)
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in repr(vars(record))
    assert "TokenGrant(expires_at=" in repr(grant)
    fields = [getattr(record, "event_fields", {}) for record in oauth_lines]
    assert [f["operation"] for f in fields] == [
        "get-access-token",
        "get-access-token",
        "get-access-token",
        "get-access-token",
        "get-location-access-token",
    ]
    assert fields[2]["error"] == "invalid_grant"
    assert fields[1]["grant_type"] == "refresh_token"


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"ghl_client_secret": "s"}, "GHL_CLIENT_ID"),
        ({"ghl_client_id": "c"}, "GHL_CLIENT_SECRET"),
    ],
)
def test_from_settings_names_a_missing_credential(values: dict[str, str], setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        GHLOAuth.from_settings(Settings.from_mapping(values))


def test_an_empty_credential_is_refused(sandbox: SandboxGHL) -> None:
    with pytest.raises(ValueError, match="GHL_CLIENT_SECRET"):
        GHLOAuth(sandbox.http, client_id="c", client_secret="")


def test_from_settings_uses_base_url_timeout_and_closes_its_client(sandbox: SandboxGHL) -> None:
    settings = Settings.from_mapping(
        {
            "ghl_base_url": "http://sandbox-ghl.test",
            "ghl_timeout": "4",
            "ghl_client_id": SANDBOX_CLIENT_ID,
            "ghl_client_secret": SANDBOX_CLIENT_SECRET,
        }
    )
    with GHLOAuth.from_settings(settings, transport=sandbox.transport) as oauth:
        grant = sandbox.install(oauth)
        assert oauth.refresh(grant.refresh_token).access_token

    [_, sent] = [s for s in sandbox.transport.sent if s.path == "/oauth/token"]
    assert sent.form["grant_type"] == "refresh_token"
    with pytest.raises(RuntimeError):  # it created its httpx.Client, so it closed it
        oauth.refresh("rt")
    assert not sandbox.http.is_closed


def test_the_transport_rejects_a_form_off_the_file(sandbox: SandboxGHL) -> None:
    # Guards the guard: a token request the file does not allow must fail the test.
    with pytest.raises(SpecViolation, match="grant_type"):
        sandbox.http.post("/oauth/token", data={"client_id": "c", "client_secret": "s"})
