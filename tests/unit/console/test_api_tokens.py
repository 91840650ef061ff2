"""API tokens as the CLI, the account page and the API's sign-in use them."""

from __future__ import annotations

import pytest
import redis

from console import api_tokens
from console.signin import Refusal
from console.throttle import AddressThrottle
from store import NotFound, Store, UserRole

PASSWORD = "correct horse battery"


def test_a_token_made_for_an_email_signs_in_as_that_user(
    store: Store, throttle: AddressThrottle
) -> None:
    user = store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    made = api_tokens.create_token(store, "Ann@Example.com", "deploys")
    result = api_tokens.authenticate(store, throttle, made.token, address="10.0.0.1")

    assert result.user == user
    assert result.token is not None
    assert result.token.id == made.record.id
    assert result.refusal is None
    assert throttle.retry_after("10.0.0.1") == 0


def test_a_token_for_an_unknown_email_is_refused(store: Store) -> None:
    with pytest.raises(NotFound, match=r"nobody@example\.com"):
        api_tokens.create_token(store, "nobody@example.com")
    with pytest.raises(NotFound):
        api_tokens.list_tokens(store, "nobody@example.com")


def test_lists_are_of_one_user_or_of_all(store: Store) -> None:
    ann = store.add_user("ann@example.com", PASSWORD)
    store.add_user("zoe@example.com", PASSWORD)
    anns = api_tokens.create_own_token(store, ann, "mine")
    zoes = api_tokens.create_token(store, "zoe@example.com")

    assert [t.id for t in api_tokens.list_tokens(store, "zoe@example.com")] == [zoes.record.id]
    assert [t.id for t in api_tokens.own_tokens(store, ann)] == [anns.record.id]
    assert {t.id for t in api_tokens.list_tokens(store)} == {anns.record.id, zoes.record.id}


def test_a_user_revokes_only_their_own_tokens(store: Store) -> None:
    ann = store.add_user("ann@example.com", PASSWORD)
    zoe = store.add_user("zoe@example.com", PASSWORD)
    anns = api_tokens.create_own_token(store, ann)
    zoes = api_tokens.create_own_token(store, zoe)

    with pytest.raises(NotFound):
        api_tokens.revoke_own_token(store, ann, zoes.record.id)
    assert store.get_api_token(zoes.record.id) is not None

    assert api_tokens.revoke_own_token(store, ann, anns.record.id).id == anns.record.id
    assert store.get_api_token(anns.record.id) is None


def test_a_wrong_token_counts_against_the_address(store: Store, throttle: AddressThrottle) -> None:
    result = api_tokens.authenticate(store, throttle, "sb_" + "x" * 43, address="10.0.0.2")

    assert result.user is None
    assert result.refusal is Refusal.WRONG
    assert result.message == "Unknown or revoked API token."
    assert throttle.failed("10.0.0.2") == 2  # the refusal's count, and this one


def test_an_address_over_the_limit_is_refused_even_with_a_right_token(
    store: Store, redis_client: redis.Redis
) -> None:
    throttle = AddressThrottle(redis_client, limit=3)
    store.add_user("ann@example.com", PASSWORD)
    made = api_tokens.create_token(store, "ann@example.com")
    for _ in range(3):
        wrong = api_tokens.authenticate(store, throttle, "sb_guess" + "y" * 40, address="10.0.0.3")
        assert wrong.refusal is Refusal.WRONG

    refused = api_tokens.authenticate(store, throttle, made.token, address="10.0.0.3")
    elsewhere = api_tokens.authenticate(store, throttle, made.token, address="10.0.0.4")

    assert refused.user is None
    assert refused.refusal is Refusal.THROTTLED
    assert 0 < refused.retry_after <= throttle.window
    assert refused.message.startswith("Too many failed sign-ins from your address")
    assert elsewhere.user is not None
