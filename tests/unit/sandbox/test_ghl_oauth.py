"""The sandbox GHL's OAuth 2.0 over HTTP: install page, token grants, scopes, admin API.

Every OAuth request sent here is checked against `apps/oauth.json` before it is sent, and every
answer after, so what passes here is what the official file allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.ghl import API_VERSION, DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.ghl.oauth import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_COMPANY_ID,
    SCOPE_ACCOUNTS,
    SCOPE_LOCATION_TOKEN,
    SCOPE_POSTS,
    SCOPE_STATISTICS,
    SCOPE_TAGS,
    SOCIAL_PLANNER_SCOPES,
)
from sandbox.server import ServerThread
from tests.openapi_validation import SpecValidator

OAUTH_SPEC = SpecValidator("apps/oauth.json")
FORM = "application/x-www-form-urlencoded"
REDIRECT = "https://bridge.example/oauth/ghl/callback"
ALL_SCOPES = " ".join(SOCIAL_PLANNER_SCOPES)
TAGS = f"/social-media-posting/{DEFAULT_LOCATION}/tags"
ACCOUNTS = f"/social-media-posting/{DEFAULT_LOCATION}/accounts"
POST = f"/social-media-posting/{DEFAULT_LOCATION}/posts/unknown"
STATISTICS = f"/social-media-posting/statistics?locationId={DEFAULT_LOCATION}"
SCOPE_ERROR = "The token is not authorized for this scope."


@pytest.fixture
def app() -> Flask:
    return create_sandbox_ghl_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def choose(client: FlaskClient, **params: str) -> TestResponse:
    query = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": ALL_SCOPES,
        "state": "st-123",
        **params,
    }
    return client.get(f"/oauth/chooselocation?{urlencode(query)}")


def code_of(response: TestResponse) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["code"][0]


def oauth_post(
    client: FlaskClient, path: str, form: Mapping[str, str], headers: Mapping[str, str] = {}
) -> TestResponse:
    """POST a form to an OAuth operation, valid for the spec; check the answer against it."""
    sent_headers = {"Content-Type": FORM, **headers}
    body = urlencode(form)
    OAUTH_SPEC.validate_request("POST", path, sent_headers, body)
    response = client.post(path, data=body, headers=sent_headers)
    OAUTH_SPEC.validate_response(
        "POST",
        path,
        response.status_code,
        dict(response.headers),
        response.get_data(),
        request_headers=sent_headers,
    )
    return response


def token_call(client: FlaskClient, **fields: str) -> TestResponse:
    form = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET, **fields}
    return oauth_post(client, "/oauth/token", form)


def install(
    client: FlaskClient, scope: str = ALL_SCOPES, location_id: str = DEFAULT_LOCATION
) -> dict[str, Any]:
    """The whole install: the page's redirect, then the code for a pair."""
    code = code_of(choose(client, location_id=location_id, approve="1", scope=scope))
    response = token_call(
        client,
        grant_type="authorization_code",
        code=code,
        user_type="Location",
        redirect_uri=REDIRECT,
    )
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def agency_install(client: FlaskClient, scope: str) -> dict[str, Any]:
    code = code_of(choose(client, agency="1", approve="1", scope=scope))
    response = token_call(client, grant_type="authorization_code", code=code, user_type="Company")
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def refresh(client: FlaskClient, refresh_token: str) -> TestResponse:
    return token_call(
        client, grant_type="refresh_token", refresh_token=refresh_token, user_type="Location"
    )


def api(
    client: FlaskClient, method: str, path: str, token: str, json_body: Any = None
) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}", "Version": API_VERSION}
    return client.open(path, method=method, headers=headers, json=json_body)


def admin(client: FlaskClient) -> dict[str, Any]:
    summary: dict[str, Any] = client.get("/_sandbox/oauth").get_json()
    return summary


# -- the install page ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/chooselocation", "/v2/oauth/chooselocation"])
def test_the_install_page_lists_the_locations_with_a_button_each(
    client: FlaskClient, path: str
) -> None:
    client.post(
        "/_sandbox/locations", json={"location_id": "loc_second", "token": "pit-second", "tags": 1}
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": SCOPE_TAGS,
            "state": "s<1>",
        }
    )
    response = client.get(f"{path}?{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for location_id in (DEFAULT_LOCATION, "loc_second"):
        assert f'name="location_id" value="{location_id}"' in page
        assert f"Install on {location_id}</button>" in page
    assert SCOPE_TAGS in page
    assert 'value="s&lt;1&gt;"' in page  # the state rides along, escaped
    assert client.get("/_sandbox/journal").get_json() == []


def test_choosing_a_location_redirects_back_with_a_code_and_the_same_state(
    client: FlaskClient,
) -> None:
    response = choose(
        client, location_id=DEFAULT_LOCATION, approve="1", redirect_uri=f"{REDIRECT}?keep=1"
    )
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    query = parse_qs(target.query)
    assert query["keep"] == ["1"]
    assert query["state"] == ["st-123"]
    assert query["code"][0]


def test_declining_redirects_back_with_access_denied(client: FlaskClient) -> None:
    response = choose(client, approve="0")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": ["st-123"]}


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"client_id": "nobody"}, "not known"),
        ({"response_type": "token"}, "response_type"),
        ({"redirect_uri": "ftp://x"}, "redirect_uri"),
        ({"approve": "1"}, "Choose a location"),
        ({"approve": "1", "location_id": "loc_nowhere"}, "Unknown location"),
    ],
)
def test_the_install_page_refuses_what_it_cannot_install(
    client: FlaskClient, params: dict[str, str], problem: str
) -> None:
    response = choose(client, **params)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert problem in response.get_data(as_text=True)


# -- POST /oauth/token -------------------------------------------------------------------------


def test_the_install_gives_a_location_pair_that_calls_the_social_planner(
    client: FlaskClient,
) -> None:
    answer = install(client)
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 86_400
    assert answer["userType"] == "Location"
    assert answer["locationId"] == DEFAULT_LOCATION
    assert answer["companyId"] == SANDBOX_COMPANY_ID
    assert answer["userId"]
    assert answer["scope"].split() == list(SOCIAL_PLANNER_SCOPES)
    tags = api(client, "GET", TAGS, answer["access_token"])
    assert tags.status_code == 200
    assert tags.get_json()["results"]["count"] > 0


def test_a_code_works_once(client: FlaskClient) -> None:
    code = code_of(choose(client, location_id=DEFAULT_LOCATION, approve="1"))
    first = token_call(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert first.status_code == 200
    second = token_call(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"


def test_a_code_for_another_redirect_uri_is_refused(client: FlaskClient) -> None:
    code = code_of(choose(client, location_id=DEFAULT_LOCATION, approve="1"))
    response = token_call(
        client, grant_type="authorization_code", code=code, redirect_uri="https://other.example/"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_tokens_are_single_use_and_a_reuse_is_counted(client: FlaskClient) -> None:
    first = install(client)
    rotated = refresh(client, first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["locationId"] == DEFAULT_LOCATION

    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 400
    body = reused.get_json()
    assert body["error"] == "invalid_grant"
    assert body["statusCode"] == 400
    assert body["message"]
    unknown = refresh(client, "sbx-rt-never-issued")
    assert unknown.status_code == 400

    counts = admin(client)["counts"]
    assert counts["refresh_reuses"] == 1
    assert counts["unknown_refresh_tokens"] == 1
    assert counts["refresh_grants"] == 1
    assert counts["token_calls"] == 4
    assert api(client, "GET", TAGS, second["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_id": SANDBOX_CLIENT_ID, "client_secret": "wrong"},
        {"client_id": "nobody", "client_secret": SANDBOX_CLIENT_SECRET},
    ],
)
def test_a_wrong_client_is_401_invalid_client(
    client: FlaskClient, credentials: dict[str, str]
) -> None:
    answer = install(client)
    form = {**credentials, "grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
    response = oauth_post(client, "/oauth/token", form)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert admin(client)["counts"]["invalid_client"] == 1
    # The refresh token was not used up by the refused call.
    assert refresh(client, answer["refresh_token"]).status_code == 200


def test_client_credentials_are_not_a_grant_of_this_app(client: FlaskClient) -> None:
    response = token_call(client, grant_type="client_credentials")
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("client_id=x&grant_type=refresh_token", FORM),  # no client_secret
        ("client_id=x&client_secret=y&grant_type=password", FORM),
        (
            json.dumps({"client_id": "x", "client_secret": "y", "grant_type": "refresh_token"}),
            "application/json",
        ),
    ],
)
def test_a_token_request_off_the_spec_is_422_and_journaled(
    client: FlaskClient, body: str, content_type: str
) -> None:
    response = client.post("/oauth/token", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert isinstance(response.get_json()["message"], list)
    [entry] = client.get("/_sandbox/journal?path_contains=/oauth/token").get_json()
    assert entry["spec_errors"]


def test_the_journal_keeps_oauth_exchanges_without_their_secrets(client: FlaskClient) -> None:
    answer = install(client)
    refresh(client, answer["refresh_token"])
    entries = client.get("/_sandbox/journal?path_contains=/oauth/token").get_json()
    assert [entry["response_status"] for entry in entries] == [200, 200]
    assert all(entry["spec_errors"] == [] for entry in entries)
    text = json.dumps(entries)
    assert SANDBOX_CLIENT_SECRET not in text
    assert answer["refresh_token"] not in text
    assert answer["access_token"] not in text
    assert entries[1]["body"]["refresh_token"].startswith("sha256:")
    assert entries[1]["body"]["grant_type"] == "refresh_token"
    assert entries[0]["response_body"]["locationId"] == DEFAULT_LOCATION


# -- expiry, revocation ------------------------------------------------------------------------


def test_tokens_of_a_short_lifetime_expire_and_answer_ghls_401(client: FlaskClient) -> None:
    settings = client.post("/_sandbox/oauth/settings", json={"access_token_seconds": 0})
    assert settings.get_json() == {"access_token_seconds": 0}
    answer = install(client)
    assert answer["expires_in"] == 0
    expired = api(client, "GET", TAGS, answer["access_token"])
    assert expired.status_code == 401
    assert expired.get_json()["message"] == "Invalid JWT"
    assert admin(client)["counts"]["expired_access_token_uses"] == 1

    client.post("/_sandbox/oauth/settings", json={"access_token_seconds": 3600})
    fresh = refresh(client, answer["refresh_token"]).get_json()
    assert fresh["expires_in"] == 3600
    assert api(client, "GET", TAGS, fresh["access_token"]).status_code == 200


def test_the_lifetime_is_set_when_the_app_is_made() -> None:
    client = create_sandbox_ghl_app(access_token_seconds=120).test_client()
    assert install(client)["expires_in"] == 120


@pytest.mark.parametrize("value", [-1, "10", None, True])
def test_a_lifetime_that_is_not_seconds_is_refused(client: FlaskClient, value: Any) -> None:
    response = client.post("/_sandbox/oauth/settings", json={"access_token_seconds": value})
    assert response.status_code == 400


def test_expiring_a_location_now_makes_its_next_call_401(client: FlaskClient) -> None:
    answer = install(client)
    expired = client.post("/_sandbox/oauth/expire", json={"location_id": DEFAULT_LOCATION})
    assert expired.get_json()["expired"] == 1
    assert api(client, "GET", TAGS, answer["access_token"]).status_code == 401
    assert refresh(client, answer["refresh_token"]).status_code == 200


def test_revoking_a_location_kills_its_tokens_but_not_its_pit(client: FlaskClient) -> None:
    answer = install(client)
    revoked = client.post("/_sandbox/oauth/revoke", json={"location_id": DEFAULT_LOCATION})
    assert revoked.get_json() == {"location_id": DEFAULT_LOCATION, "revoked": 2}
    assert api(client, "GET", TAGS, answer["access_token"]).status_code == 401
    again = refresh(client, answer["refresh_token"])
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
    assert api(client, "GET", TAGS, DEFAULT_TOKEN).status_code == 200


def test_the_admin_summary_counts_tokens_per_location_without_values(client: FlaskClient) -> None:
    answer = install(client)
    summary = admin(client)
    subject = summary["subjects"][DEFAULT_LOCATION]
    assert subject["live_access_tokens"] == 1
    assert len(subject["live_refresh_tokens"]) == 1
    assert summary["access_token_seconds"] == 86_400
    assert SANDBOX_CLIENT_ID in summary["clients"]
    text = json.dumps(summary)
    assert answer["access_token"] not in text
    assert answer["refresh_token"] not in text
    cleared = client.delete("/_sandbox/oauth/counts").get_json()["cleared"]
    assert cleared["authorization_code_grants"] == 1
    assert admin(client)["counts"] == {}


def test_a_registered_client_can_only_use_its_redirect_uris(client: FlaskClient) -> None:
    registered = client.post(
        "/_sandbox/oauth/clients",
        json={"client_id": "app-2", "client_secret": "s2", "redirect_uris": [REDIRECT]},
    )
    assert registered.status_code == 201
    assert registered.get_json()["app_id"]
    assert choose(client, client_id="app-2", redirect_uri="https://x.example/").status_code == 400
    code = code_of(choose(client, client_id="app-2", location_id=DEFAULT_LOCATION, approve="1"))
    form = {
        "client_id": "app-2",
        "client_secret": "s2",
        "grant_type": "authorization_code",
        "code": code,
    }
    assert oauth_post(client, "/oauth/token", form).status_code == 200
    assert client.post("/_sandbox/oauth/clients", json={"client_id": "x"}).status_code == 400


# -- scopes ------------------------------------------------------------------------------------

SCOPED_CALLS = [
    (SCOPE_TAGS, "GET", TAGS, None),
    (SCOPE_TAGS, "POST", f"{TAGS}/details", {"tagIds": ["x"]}),
    (SCOPE_ACCOUNTS, "GET", ACCOUNTS, None),
    (SCOPE_POSTS, "GET", POST, None),
    (SCOPE_STATISTICS, "POST", STATISTICS, {"profileIds": ["p"]}),
]


@pytest.mark.parametrize(("scope", "method", "path", "body"), SCOPED_CALLS)
def test_an_oauth_token_needs_the_scope_of_each_endpoint(
    client: FlaskClient, scope: str, method: str, path: str, body: Any
) -> None:
    others = " ".join(s for s in SOCIAL_PLANNER_SCOPES if s != scope)
    without = install(client, scope=others)["access_token"]
    refused = api(client, method, path, without, body)
    assert refused.status_code == 401
    assert refused.get_json()["message"] == SCOPE_ERROR
    with_scope = install(client, scope=scope)["access_token"]
    assert api(client, method, path, with_scope, body).status_code != 401


@pytest.mark.parametrize(("scope", "method", "path", "body"), SCOPED_CALLS)
def test_a_private_integration_token_keeps_every_scope(
    client: FlaskClient, scope: str, method: str, path: str, body: Any
) -> None:
    assert api(client, method, path, DEFAULT_TOKEN, body).status_code != 401


def test_an_oauth_token_is_for_its_location_only(client: FlaskClient) -> None:
    client.post("/_sandbox/locations", json={"location_id": "loc_b", "token": "pit-b", "tags": 1})
    token = install(client, location_id="loc_b")["access_token"]
    response = api(client, "GET", TAGS, token)
    assert response.status_code == 401
    assert response.get_json()["message"] == "The token does not have access to this location."
    assert api(client, "GET", "/social-media-posting/loc_b/tags", token).status_code == 200


# -- agency installs and POST /oauth/locationToken ------------------------------------------------


def location_token(
    client: FlaskClient, token: str, location_id: str = DEFAULT_LOCATION, **headers: str
) -> TestResponse:
    return oauth_post(
        client,
        "/oauth/locationToken",
        {"companyId": SANDBOX_COMPANY_ID, "locationId": location_id},
        {"Authorization": f"Bearer {token}", "Version": API_VERSION, **headers},
    )


def test_an_agency_token_mints_a_location_token(client: FlaskClient) -> None:
    agency = agency_install(client, f"{ALL_SCOPES} {SCOPE_LOCATION_TOKEN}")
    assert agency["userType"] == "Company"
    assert agency["approvedLocations"] == [DEFAULT_LOCATION]
    # An agency token does not call a location's endpoints itself.
    direct = api(client, "GET", TAGS, agency["access_token"])
    assert direct.status_code == 401
    minted = location_token(client, agency["access_token"])
    assert minted.status_code == 200
    answer = minted.get_json()
    assert answer["locationId"] == DEFAULT_LOCATION
    assert answer["appId"]
    assert api(client, "GET", TAGS, answer["access_token"]).status_code == 200
    assert admin(client)["counts"]["location_token_calls"] == 1


def test_location_tokens_are_refused_without_an_agency_token_with_oauth_write(
    client: FlaskClient,
) -> None:
    no_write = agency_install(client, ALL_SCOPES)["access_token"]
    refused = location_token(client, no_write)
    assert refused.status_code == 401
    assert refused.get_json()["message"] == SCOPE_ERROR
    location = install(client)["access_token"]
    assert location_token(client, location).status_code == 401
    assert location_token(client, "sbx-at-unknown").status_code == 401
    agency = agency_install(client, SCOPE_LOCATION_TOKEN)["access_token"]
    assert location_token(client, agency, location_id="loc_nowhere").status_code == 400


def test_location_tokens_need_the_version_header(client: FlaskClient) -> None:
    agency = agency_install(client, SCOPE_LOCATION_TOKEN)["access_token"]
    response = client.post(
        "/oauth/locationToken",
        data={"companyId": SANDBOX_COMPANY_ID, "locationId": DEFAULT_LOCATION},
        headers={"Authorization": f"Bearer {agency}"},
    )
    assert response.status_code == 400
    [entry] = client.get("/_sandbox/journal?path_contains=locationToken").get_json()
    assert any("Version" in error for error in entry["spec_errors"])


# -- over real HTTP --------------------------------------------------------------------------


def test_the_whole_install_over_http_then_a_refresh() -> None:
    with (
        ServerThread(create_sandbox_ghl_app()) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        query = {
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": ALL_SCOPES,
            "state": "over-http",
        }
        page = http.get("/v2/oauth/chooselocation", params=query)
        chosen = http.get(
            "/v2/oauth/chooselocation",
            params={**query, "location_id": DEFAULT_LOCATION, "approve": "1"},
        )
        back = parse_qs(urlsplit(chosen.headers["Location"]).query)
        form = {
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": back["code"][0],
            "user_type": "Location",
            "redirect_uri": REDIRECT,
        }
        pair = http.post("/oauth/token", data=form).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}", "Version": API_VERSION}
        tags = http.get(TAGS, headers=bearer)
        refresh_form = {
            **{key: form[key] for key in ("client_id", "client_secret", "user_type")},
            "grant_type": "refresh_token",
            "refresh_token": pair["refresh_token"],
        }
        rotated = http.post("/oauth/token", data=refresh_form)
        reused = http.post("/oauth/token", data=refresh_form)
        entries = http.get("/_sandbox/journal", params={"path_contains": "/oauth/"}).json()
    assert page.status_code == 200
    assert f'value="{DEFAULT_LOCATION}"' in page.text
    assert chosen.status_code == 302
    assert back["state"] == ["over-http"]
    assert tags.status_code == 200
    assert rotated.status_code == 200
    assert reused.json()["error"] == "invalid_grant"
    assert [entry["spec_errors"] for entry in entries] == [[], [], []]


def test_an_injected_fault_on_the_token_endpoint_leaves_the_refresh_token_usable(
    client: FlaskClient,
) -> None:
    answer = install(client)
    client.post("/_sandbox/faults", json={"path_contains": "/oauth/token", "status": 503})
    failed = refresh(client, answer["refresh_token"])
    assert failed.status_code == 503
    assert refresh(client, answer["refresh_token"]).status_code == 200
    assert admin(client)["counts"]["refresh_grants"] == 1
