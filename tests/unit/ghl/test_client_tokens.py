"""GHLClient with a TokenSource, against the sandbox GHL in process: refresh on 401, scopes.

The source here is the least a token keeper does (one process, no lock, no store): it holds a
grant from a real install and refreshes it with GHLOAuth at the sandbox's token endpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ghl import endpoints
from ghl.client import GHLClient
from ghl.endpoints import Endpoint
from ghl.oauth import GHLOAuth, TokenGrant
from socialbridge.errors import AuthError, OAuthGrantError, RetryableError, ScopeError
from tests.unit.ghl.sandbox_ghl import SandboxGHL

LOCATION = "loc_demo"
ACCOUNTS_PATH = f"/social-media-posting/{LOCATION}/accounts"
DETAILS_PATH = f"/social-media-posting/{LOCATION}/tags/details"


class RefreshingTokens:
    """A TokenSource over one grant, refreshed with GHLOAuth; it records what it was asked."""

    def __init__(self, oauth: GHLOAuth, grant: TokenGrant) -> None:
        self.oauth = oauth
        self.grant = grant
        self.rejected: list[str] = []

    def current(self) -> str:
        return self.grant.access_token

    def refresh(self, rejected: str) -> str | None:
        self.rejected.append(rejected)
        if rejected == self.grant.access_token:
            self.grant = self.oauth.refresh(self.grant.refresh_token)
        return self.grant.access_token


class FixedAnswer:
    """A TokenSource whose refresh answers `newer` (or raises it) and counts the questions."""

    def __init__(self, token: str, newer: str | Exception | None) -> None:
        self.token = token
        self.newer = newer
        self.rejected: list[str] = []

    def current(self) -> str:
        return self.token

    def refresh(self, rejected: str) -> str | None:
        self.rejected.append(rejected)
        if isinstance(self.newer, Exception):
            raise self.newer
        return self.newer


@pytest.fixture
def sandbox() -> Iterator[SandboxGHL]:
    sandbox = SandboxGHL()
    yield sandbox
    sandbox.close()


@pytest.fixture
def oauth(sandbox: SandboxGHL) -> GHLOAuth:
    return sandbox.oauth()


@pytest.fixture
def tokens(sandbox: SandboxGHL, oauth: GHLOAuth) -> RefreshingTokens:
    return RefreshingTokens(oauth, sandbox.install(oauth))


def bearers(sandbox: SandboxGHL, path: str) -> list[str]:
    return [sent.headers["authorization"] for sent in sandbox.transport.to(path)]


# -- refresh on 401 --------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_once_and_the_call_repeated_once(
    sandbox: SandboxGHL, tokens: RefreshingTokens
) -> None:
    expired = tokens.current()
    sandbox.admin("POST", "/oauth/expire", {"location_id": LOCATION})

    accounts = sandbox.client(tokens).list_accounts(LOCATION)

    assert accounts
    assert tokens.rejected == [expired]
    assert bearers(sandbox, ACCOUNTS_PATH) == [f"Bearer {expired}", f"Bearer {tokens.current()}"]
    counts = sandbox.counts()
    assert counts["refresh_grants"] == 1
    assert counts["expired_access_token_uses"] == 1
    assert counts.get("refresh_reuses", 0) == 0


def test_the_repeated_request_carries_the_same_body(
    sandbox: SandboxGHL, tokens: RefreshingTokens
) -> None:
    sandbox.admin("POST", "/oauth/expire", {"location_id": LOCATION})

    tags = sandbox.client(tokens).tag_details(LOCATION, ["tag_0001", "tag_0002"])

    first, second = sandbox.transport.to(DETAILS_PATH)
    assert first.headers["authorization"] != second.headers["authorization"]
    assert first.body == second.body == b'{"tagIds":["tag_0001","tag_0002"]}'
    assert len(tokens.rejected) == 1
    assert tags == []  # the sandbox has no tags of these ids


def test_the_source_is_asked_before_every_request(
    sandbox: SandboxGHL, oauth: GHLOAuth, tokens: RefreshingTokens
) -> None:
    client = sandbox.client(tokens)
    client.list_accounts(LOCATION)
    # Another process rotates the pair: the next request uses the newer token at once.
    tokens.grant = oauth.refresh(tokens.grant.refresh_token)

    client.list_accounts(LOCATION)

    assert bearers(sandbox, ACCOUNTS_PATH)[-1] == f"Bearer {tokens.current()}"
    assert tokens.rejected == []


def test_a_second_401_is_an_auth_error_after_one_refresh(sandbox: SandboxGHL) -> None:
    source = FixedAnswer("sbx-at-dead-1", "sbx-at-dead-2")

    with pytest.raises(AuthError) as caught:
        sandbox.client(source).list_accounts(LOCATION)

    assert type(caught.value) is AuthError
    assert caught.value.status == 401
    assert source.rejected == ["sbx-at-dead-1"]
    assert bearers(sandbox, ACCOUNTS_PATH) == ["Bearer sbx-at-dead-1", "Bearer sbx-at-dead-2"]


@pytest.mark.parametrize("newer", [None, "", "sbx-at-dead-1"], ids=["none", "empty", "same"])
def test_no_newer_token_is_the_auth_error_of_the_one_request(
    sandbox: SandboxGHL, newer: str | None
) -> None:
    source = FixedAnswer("sbx-at-dead-1", newer)

    with pytest.raises(AuthError) as caught:
        sandbox.client(source).list_accounts(LOCATION)

    assert type(caught.value) is AuthError
    assert caught.value.message == "Invalid JWT"
    assert source.rejected == ["sbx-at-dead-1"]
    assert len(sandbox.transport.to(ACCOUNTS_PATH)) == 1


def test_a_refresh_refused_for_good_comes_through(
    sandbox: SandboxGHL, tokens: RefreshingTokens
) -> None:
    # Revoked: the access token dies and so does the refresh token.
    sandbox.admin("POST", "/oauth/revoke", {"location_id": LOCATION})

    with pytest.raises(OAuthGrantError) as caught:
        sandbox.client(tokens).list_accounts(LOCATION)

    assert caught.value.error == "invalid_grant"
    assert len(sandbox.transport.to(ACCOUNTS_PATH)) == 1


def test_a_token_endpoint_outage_during_the_refresh_is_retryable(
    sandbox: SandboxGHL, tokens: RefreshingTokens
) -> None:
    sandbox.admin("POST", "/oauth/expire", {"location_id": LOCATION})
    sandbox.admin("POST", "/faults", {"path_contains": "/oauth/token", "status": 503})

    with pytest.raises(RetryableError) as caught:
        sandbox.client(tokens).list_accounts(LOCATION)

    assert caught.value.status == 503
    # The next attempt refreshes with the same refresh token, which the outage did not spend.
    assert sandbox.client(tokens).list_accounts(LOCATION)
    assert sandbox.counts()["refresh_grants"] == 1


def test_an_empty_current_token_sends_nothing(sandbox: SandboxGHL) -> None:
    source = FixedAnswer("", "x")

    with pytest.raises(AuthError, match="no access token"):
        sandbox.client(source).list_accounts(LOCATION)

    assert sandbox.transport.sent == []
    assert source.rejected == []


def test_a_plain_token_is_never_refreshed(sandbox: SandboxGHL) -> None:
    with pytest.raises(AuthError):
        sandbox.client("pit-not-known").list_accounts(LOCATION)

    assert len(sandbox.transport.sent) == 1
    assert sandbox.counts().get("token_calls", 0) == 0


# -- scopes ----------------------------------------------------------------------------------


RANGE = (dt.date(2026, 3, 1), dt.date(2026, 3, 7))
CALLS: dict[Endpoint, Callable[[GHLClient], Any]] = {
    endpoints.TAGS: lambda client: client.list_tags(LOCATION),
    endpoints.TAG_DETAILS: lambda client: client.tag_details(LOCATION, ["tag_x"]),
    endpoints.ACCOUNTS: lambda client: client.list_accounts(LOCATION),
    endpoints.POST: lambda client: client.get_post(LOCATION, "post_demo_1"),
    endpoints.STATISTICS: lambda client: client.statistics(LOCATION, ["prof_x"]),
    endpoints.STATISTICS_RANGE: lambda client: client.statistics(
        LOCATION, ["prof_x"], date_range=RANGE
    ),
}


@pytest.mark.parametrize("endpoint", endpoints.ALL, ids=lambda endpoint: endpoint.operation_id)
def test_a_missing_scope_is_named_and_not_refreshed(
    sandbox: SandboxGHL, oauth: GHLOAuth, endpoint: Endpoint
) -> None:
    granted = [scope for scope in endpoints.OAUTH_SCOPES if scope != endpoint.scope]
    tokens = RefreshingTokens(oauth, sandbox.install(oauth, scopes=granted))

    with pytest.raises(ScopeError) as caught:
        CALLS[endpoint](sandbox.client(tokens))

    assert caught.value.scope == endpoint.scope
    assert caught.value.status == 401
    assert f"the token lacks scope {endpoint.scope} ({endpoint.method} " in caught.value.message
    assert caught.value.message.endswith("The token is not authorized for this scope.")
    assert tokens.rejected == []
    assert sandbox.counts().get("refresh_grants", 0) == 0


def test_the_flows_scopes_are_enough_for_every_endpoint(
    sandbox: SandboxGHL, tokens: RefreshingTokens
) -> None:
    client = sandbox.client(tokens)

    tags = client.list_tags(LOCATION)
    details = client.tag_details(LOCATION, [tags[0].id])
    profiles = [a.profile_id for a in client.list_accounts(LOCATION) if a.profile_id]
    post = client.get_post(LOCATION, "post_demo_1")
    client.statistics(LOCATION, profiles)
    client.statistics(LOCATION, profiles, date_range=RANGE)

    assert [tag.id for tag in details] == [tags[0].id]
    assert profiles
    assert post.id == "post_demo_1"
    assert tokens.grant.scopes == endpoints.OAUTH_SCOPES
    api = [sent for sent in sandbox.transport.sent if sent.path.startswith("/social-media-")]
    assert ("POST", "v3") in {(sent.method, sent.headers["version"]) for sent in api}
    assert tokens.rejected == []


# -- secrets ---------------------------------------------------------------------------------


def test_no_token_in_logs_repr_or_errors_along_the_refresh(
    sandbox: SandboxGHL, oauth: GHLOAuth, tokens: RefreshingTokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = tokens.grant
    sandbox.admin("POST", "/oauth/expire", {"location_id": LOCATION})
    client = sandbox.client(tokens)
    client.list_accounts(LOCATION)
    second = tokens.grant
    sandbox.admin("POST", "/oauth/revoke", {"location_id": LOCATION})
    with pytest.raises(OAuthGrantError) as caught:
        client.list_accounts(LOCATION)

    secrets = [first.access_token, first.refresh_token, second.access_token, second.refresh_token]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in repr(client)
        assert secret not in str(caught.value)
        for record in caplog.records:
            assert secret not in repr(vars(record))
    events = [record.getMessage() for record in caplog.records]
    assert events.count("ghl.token_refreshed") == 1
