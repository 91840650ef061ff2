"""The sandbox's OAuth state on its own: codes, rotation, expiry and revocation on a fake clock."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from sandbox.ghl.oauth import (
    CODE_SECONDS,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_COMPANY_ID,
    SCOPE_LOCATION_TOKEN,
    SCOPE_TAGS,
    OAuthError,
    OAuthServer,
)

LOCATIONS = ("loc_a", "loc_b")
REDIRECT = "https://app.example/oauth/ghl/callback"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> OAuthServer:
    return OAuthServer(location_ids=lambda: LOCATIONS, access_token_seconds=3600, clock=clock)


def code_for(
    server: OAuthServer, location_id: str | None = "loc_a", scope: str = SCOPE_TAGS
) -> str:
    return server.authorize(
        client_id=SANDBOX_CLIENT_ID, redirect_uri=REDIRECT, scope=scope, location_id=location_id
    )


def exchange(server: OAuthServer, code: str, **extra: str) -> dict[str, Any]:
    form = {
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        **extra,
    }
    return server.token(form)


def refresh(server: OAuthServer, refresh_token: str, **extra: str) -> dict[str, Any]:
    form = {
        "client_id": SANDBOX_CLIENT_ID,
        "client_secret": SANDBOX_CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "user_type": "Location",
        **extra,
    }
    return server.token(form)


def refused(call: Any, *args: Any, **kwargs: Any) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_code_is_exchanged_once_for_a_location_pair(server: OAuthServer) -> None:
    code = code_for(server)
    answer = exchange(server, code, user_type="Location")
    assert answer["token_type"] == "Bearer"
    assert answer["userType"] == "Location"
    assert answer["locationId"] == "loc_a"
    assert answer["companyId"] == SANDBOX_COMPANY_ID
    assert answer["scope"] == SCOPE_TAGS
    assert answer["expires_in"] == 3600
    access = server.access(answer["access_token"])
    assert access is not None
    assert access.location_id == "loc_a"
    assert access.scopes == frozenset({SCOPE_TAGS})

    again = refused(exchange, server, code)
    assert (again.status, again.error) == (400, "invalid_grant")
    assert server.counts()["invalid_codes"] == 1


def test_a_code_expires_after_its_lifetime(server: OAuthServer, clock: FakeClock) -> None:
    code = code_for(server)
    clock.now += CODE_SECONDS
    assert refused(exchange, server, code).error == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "https://other.example/cb"}, "invalid_grant"),
        ({"user_type": "Company"}, "invalid_grant"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "nobody"}, "invalid_client"),
    ],
)
def test_a_code_is_bound_to_its_client_redirect_uri_and_user_type(
    server: OAuthServer, change: dict[str, str], error: str
) -> None:
    assert refused(exchange, server, code_for(server), **change).error == error


def test_a_code_of_another_client_is_refused(server: OAuthServer) -> None:
    server.register_client("other", "other-secret")
    code = code_for(server)
    form = {
        "client_id": "other",
        "client_secret": "other-secret",
        "grant_type": "authorization_code",
        "code": code,
    }
    assert refused(server.token, form).error == "invalid_grant"


def test_every_refresh_rotates_and_a_reuse_is_refused_and_counted(server: OAuthServer) -> None:
    first = exchange(server, code_for(server))
    second = refresh(server, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["locationId"] == "loc_a"

    reuse = refused(refresh, server, first["refresh_token"])
    assert (reuse.status, reuse.error) == (400, "invalid_grant")
    unknown = refused(refresh, server, "sbx-rt-never-issued")
    assert unknown.error == "invalid_grant"

    third = refresh(server, second["refresh_token"])
    assert server.access(third["access_token"]) is not None
    counts = server.counts()
    assert counts["refresh_reuses"] == 1
    assert counts["unknown_refresh_tokens"] == 1
    assert counts["refresh_grants"] == 2
    assert counts["token_calls"] == 5


def test_access_tokens_expire_and_earlier_ones_live_until_their_own_expiry(
    server: OAuthServer, clock: FakeClock
) -> None:
    first = exchange(server, code_for(server))
    clock.now += 1800
    second = refresh(server, first["refresh_token"])
    assert server.access(first["access_token"]) is not None
    clock.now += 1800
    assert server.access(first["access_token"]) is None
    assert server.access(second["access_token"]) is not None
    clock.now += 1800
    assert server.access(second["access_token"]) is None
    assert server.counts()["expired_access_token_uses"] == 2


def test_a_changed_lifetime_applies_to_new_tokens(server: OAuthServer, clock: FakeClock) -> None:
    server.set_access_token_seconds(5)
    answer = exchange(server, code_for(server))
    assert answer["expires_in"] == 5
    clock.now += 5
    assert server.access(answer["access_token"]) is None
    with pytest.raises(ValueError, match="access_token_seconds"):
        server.set_access_token_seconds(-1)


def test_an_agency_install_mints_location_tokens_with_oauth_write(server: OAuthServer) -> None:
    company = exchange(
        server,
        code_for(server, None, f"{SCOPE_TAGS} {SCOPE_LOCATION_TOKEN}"),
        user_type="Company",
    )
    assert company["userType"] == "Company"
    assert company["approvedLocations"] == list(LOCATIONS)
    assert "locationId" not in company
    minted = server.location_token(
        company["access_token"], company_id=SANDBOX_COMPANY_ID, location_id="loc_b"
    )
    assert minted["locationId"] == "loc_b"
    access = server.access(minted["access_token"])
    assert access is not None
    assert access.location_id == "loc_b"
    # The minted location token rotates like any other.
    assert refresh(server, minted["refresh_token"])["locationId"] == "loc_b"


def test_location_tokens_need_an_agency_token_with_oauth_write_for_its_company(
    server: OAuthServer,
) -> None:
    location = exchange(server, code_for(server))
    without_scope = exchange(server, code_for(server, None), user_type="Company")
    agency = exchange(server, code_for(server, None, SCOPE_LOCATION_TOKEN), user_type="Company")

    def mint(token: str, company_id: str = SANDBOX_COMPANY_ID, location_id: str = "loc_a") -> int:
        error = refused(
            server.location_token, token, company_id=company_id, location_id=location_id
        )
        return error.status

    assert mint("sbx-at-unknown") == 401
    assert mint(location["access_token"]) == 401
    assert mint(without_scope["access_token"]) == 401
    assert mint(agency["access_token"], company_id="comp_other") == 400
    assert mint(agency["access_token"], location_id="loc_unknown") == 400


def test_revoking_a_location_kills_its_access_and_refresh_tokens(server: OAuthServer) -> None:
    mine = exchange(server, code_for(server, "loc_a"))
    other = exchange(server, code_for(server, "loc_b"))
    assert server.revoke("loc_a") == 2
    assert server.access(mine["access_token"]) is None
    assert refused(refresh, server, mine["refresh_token"]).error == "invalid_grant"
    assert server.counts()["revoked_refresh_tokens"] == 1
    assert server.access(other["access_token"]) is not None


def test_expiring_a_location_keeps_its_refresh_token(server: OAuthServer) -> None:
    answer = exchange(server, code_for(server))
    assert server.expire("loc_a") == 1
    assert server.access(answer["access_token"]) is None
    assert server.access(refresh(server, answer["refresh_token"])["access_token"]) is not None


def test_the_summary_tells_counts_and_fingerprints_never_tokens(server: OAuthServer) -> None:
    answer = exchange(server, code_for(server))
    summary = server.summary()
    text = json.dumps(summary)
    for secret in (answer["access_token"], answer["refresh_token"], SANDBOX_CLIENT_SECRET):
        assert secret not in text
    subject = summary["subjects"]["loc_a"]
    assert subject["live_access_tokens"] == 1
    assert len(subject["live_refresh_tokens"]) == 1
    assert subject["live_refresh_tokens"][0].startswith("sha256:")
    assert summary["counts"]["authorization_code_grants"] == 1
    assert server.clear_counts()["token_calls"] == 1
    assert server.counts() == {}


def test_authorize_refuses_unknown_clients_locations_and_redirects(server: OAuthServer) -> None:
    server.register_client("strict", "s", redirect_uris=[REDIRECT])
    with pytest.raises(OAuthError, match="client"):
        server.authorize(client_id="nobody", redirect_uri=REDIRECT, scope="", location_id="loc_a")
    with pytest.raises(OAuthError, match="location"):
        server.authorize(
            client_id=SANDBOX_CLIENT_ID, redirect_uri=REDIRECT, scope="", location_id="loc_x"
        )
    with pytest.raises(OAuthError, match="redirect_uri"):
        server.authorize(
            client_id="strict", redirect_uri="https://evil.example/", scope="", location_id="loc_a"
        )
    with pytest.raises(OAuthError, match="redirect_uri"):
        server.authorize(
            client_id=SANDBOX_CLIENT_ID, redirect_uri="javascript:x", scope="", location_id=None
        )


def test_concurrent_refreshes_of_one_token_rotate_it_exactly_once(server: OAuthServer) -> None:
    answer = exchange(server, code_for(server))
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def refresh_at_once() -> None:
        start.wait()
        try:
            outcomes.append(refresh(server, answer["refresh_token"])["refresh_token"])
        except OAuthError as error:
            outcomes.append(error.error)

    threads = [threading.Thread(target=refresh_at_once) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("invalid_grant") == 19
    assert server.counts()["refresh_reuses"] == 19
    assert server.counts()["refresh_grants"] == 1
