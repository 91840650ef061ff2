"""The install `state`: signed, expiring, readable under SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from itsdangerous import URLSafeSerializer

from socialbridge.config import ConfigError
from socialbridge.oauth_state import (
    BAD_SIGNATURE,
    DEFAULT_MAX_AGE,
    EXPIRED,
    MALFORMED,
    SALT,
    StateClaims,
    StateInvalid,
    new_state,
    read_state,
)

KEY = "current-secret-key-0123456789abcdef"
OLD_KEY = "previous-secret-key-0123456789abcdef"
NOW = datetime(2026, 3, 2, 12, 0, 0, 250_000, tzinfo=UTC)
ISSUED = NOW.replace(microsecond=0)


def invalid(
    state: str, *, key: str = KEY, now: datetime = NOW, max_age: timedelta = DEFAULT_MAX_AGE
) -> StateInvalid:
    with pytest.raises(StateInvalid) as caught:
        read_state(key, state, now=now, max_age=max_age)
    return caught.value


def signed_by_us(payload: object, key: str = KEY) -> str:
    """A value signed exactly as the module signs, holding whatever payload we like."""
    serializer = URLSafeSerializer(key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})
    return serializer.dumps(payload)


def test_a_state_reads_back_as_what_was_put_in() -> None:
    state, nonce = new_state(KEY, "con_0123456789abcdef", now=NOW)
    claims = read_state(KEY, state, now=NOW)
    assert claims == StateClaims(
        connection_id="con_0123456789abcdef", nonce=nonce, issued_at=ISSUED
    )


def test_a_state_is_url_safe_and_its_nonce_is_random() -> None:
    states = [new_state(KEY, "con_1", now=NOW) for _ in range(20)]
    for state, nonce in states:
        assert re.fullmatch(r"[A-Za-z0-9_\-.]+", state)
        assert quote(state, safe="") == state
        assert len(nonce) >= 22  # 16 random bytes in base64url
    assert len({nonce for _, nonce in states}) == len(states)
    assert len({state for state, _ in states}) == len(states)


@pytest.mark.parametrize("position", [0, 10, -1, -10])
def test_a_tampered_state_has_a_bad_signature(position: int) -> None:
    state, _ = new_state(KEY, "con_1", now=NOW)
    chars = list(state)
    index = position % len(chars)
    if chars[index] == ".":
        index += 1
    # A change in the high bits of the base64 digit: the last digit of a signature carries
    # two padding bits that decoding ignores, so a change there alone would prove nothing.
    chars[index] = "A" if chars[index] not in "ABCD" else "Q"
    tampered = "".join(chars)
    assert tampered != state
    assert invalid(tampered).reason == BAD_SIGNATURE


def test_a_state_signed_with_another_key_has_a_bad_signature() -> None:
    state, _ = new_state("someone-elses-key", "con_1", now=NOW)
    error = invalid(state)
    assert error.reason == BAD_SIGNATURE
    assert str(error).startswith("bad signature: ")


def test_a_value_signed_with_our_key_for_another_purpose_is_refused() -> None:
    other_salt = URLSafeSerializer(KEY, salt="session").dumps({"c": "con_1", "n": "x", "t": 1})
    assert invalid(other_salt).reason == BAD_SIGNATURE


def test_a_state_expires_after_ten_minutes() -> None:
    state, _ = new_state(KEY, "con_1", now=NOW)
    assert read_state(KEY, state, now=ISSUED + timedelta(minutes=10)).connection_id == "con_1"
    error = invalid(state, now=ISSUED + timedelta(minutes=10, seconds=1))
    assert error.reason == EXPIRED
    assert "10 minutes" in str(error)


def test_the_lifetime_can_be_chosen() -> None:
    state, _ = new_state(KEY, "con_1", now=NOW)
    later = NOW + timedelta(minutes=2)
    assert invalid(state, now=later, max_age=timedelta(minutes=1)).reason == EXPIRED
    assert read_state(KEY, state, now=later, max_age=timedelta(minutes=3)).nonce


def test_a_state_from_the_future_is_refused_beyond_a_little_clock_skew() -> None:
    state, _ = new_state(KEY, "con_1", now=NOW + timedelta(seconds=30))
    assert read_state(KEY, state, now=NOW).connection_id == "con_1"
    state, _ = new_state(KEY, "con_1", now=NOW + timedelta(hours=1))
    assert invalid(state).reason == MALFORMED


def test_a_state_signed_under_a_fallback_key_is_still_read() -> None:
    state, nonce = new_state(OLD_KEY, "con_1", now=NOW)
    claims = read_state(KEY, state, now=NOW, fallback_keys=["unrelated", OLD_KEY])
    assert (claims.connection_id, claims.nonce) == ("con_1", nonce)
    assert invalid(state).reason == BAD_SIGNATURE  # without the fallback it is not


def test_new_states_are_signed_with_the_current_key_only() -> None:
    state, _ = new_state(KEY, "con_1", now=NOW)
    assert invalid(state, key=OLD_KEY).reason == BAD_SIGNATURE


@pytest.mark.parametrize(
    "state", ["", "nodot", "has space.abc", "a" * 1001 + ".b", "é.é", "eyJjIjoiY29uXzEifQ.%2F"]
)
def test_text_that_is_no_state_is_malformed(state: str) -> None:
    assert invalid(state).reason == MALFORMED


@pytest.mark.parametrize(
    "payload",
    [
        ["con_1", "n", 1],
        {"c": "con_1", "n": "nonce"},
        {"c": "con_1", "n": "nonce", "t": 1, "extra": 1},
        {"c": "", "n": "nonce", "t": 1},
        {"c": "con_1", "n": 5, "t": 1},
        {"c": "con_1", "n": "nonce", "t": "1"},
        {"c": "con_1", "n": "nonce", "t": True},
        {"c": "con_1", "n": "nonce", "t": 10**20},
    ],
)
def test_a_signed_value_of_the_wrong_shape_is_malformed(payload: object) -> None:
    assert invalid(signed_by_us(payload)).reason == MALFORMED


def test_an_empty_key_is_a_config_error_never_a_forgeable_state() -> None:
    with pytest.raises(ConfigError, match=r"^SECRET_KEY"):
        new_state("", "con_1", now=NOW)
    state, _ = new_state(KEY, "con_1", now=NOW)
    with pytest.raises(ConfigError, match=r"^SECRET_KEY:"):
        read_state("", state, now=NOW)
    with pytest.raises(ConfigError, match=r"^SECRET_KEY_FALLBACKS"):
        read_state(KEY, state, now=NOW, fallback_keys=[""])


def test_a_naive_now_and_an_empty_connection_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="aware"):
        new_state(KEY, "con_1", now=NOW.replace(tzinfo=None))
    state, _ = new_state(KEY, "con_1", now=NOW)
    with pytest.raises(ValueError, match="aware"):
        read_state(KEY, state, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="connection_id"):
        new_state(KEY, "", now=NOW)
