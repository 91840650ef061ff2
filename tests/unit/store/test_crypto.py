from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from socialbridge.inbound_auth import check_webhook_secret, new_webhook_secret
from store.crypto import SecretBox
from store.errors import SecretUnreadable


def test_encrypt_then_decrypt_gives_the_plaintext_back() -> None:
    box = SecretBox("key one")
    token = box.encrypt("ghl-access-token")
    assert "ghl-access-token" not in token
    assert box.decrypt(token) == "ghl-access-token"


def test_the_key_is_derived_from_the_secret_key_alone() -> None:
    assert SecretBox("key one").decrypt(SecretBox("key one").encrypt("é secret")) == "é secret"


def test_encrypting_twice_gives_different_tokens() -> None:
    box = SecretBox("key one")
    assert box.encrypt("same") != box.encrypt("same")


def test_another_secret_key_cannot_decrypt_and_says_secret_key_changed() -> None:
    token = SecretBox("key one").encrypt("ghl-access-token")
    with pytest.raises(SecretUnreadable, match="SECRET_KEY changed") as raised:
        SecretBox("key two").decrypt(token)
    assert isinstance(raised.value, ValueError)
    assert "ghl-access-token" not in str(raised.value)


def test_a_damaged_token_is_unreadable() -> None:
    with pytest.raises(SecretUnreadable):
        SecretBox("key one").decrypt("not-a-fernet-token")


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        SecretBox("")


# Made by the SecretBox of the release before SECRET_KEY_FALLBACKS, with the key below: the
# key derivation must not change, or every stored secret would be lost on upgrade.
EARLIER_RELEASE_KEY = "key of an earlier release"
EARLIER_RELEASE_TOKEN = (
    "gAAAAABrDk24PiKBHWVRlwhnallzMPywadUnkcNbD-_TlMQ4wTi0epJsmtiYj-ezd_tO-NRhuLOxstb8XiGWVUy1"
    "jn5ecXSTgAIrPkKFHInUv02U6t8xTQI="
)


def test_a_token_of_an_earlier_release_stays_readable_with_the_same_key() -> None:
    assert SecretBox(EARLIER_RELEASE_KEY).decrypt(EARLIER_RELEASE_TOKEN) == "ghl-access-token"
    rotating = SecretBox("a new key", [EARLIER_RELEASE_KEY])
    assert rotating.decrypt(EARLIER_RELEASE_TOKEN) == "ghl-access-token"


def test_a_fallback_key_still_decrypts_what_it_stored() -> None:
    old_token = SecretBox("old key").encrypt("ghl-access-token")
    box = SecretBox("new key", ["older key", "old key"])
    assert box.decrypt(old_token) == "ghl-access-token"
    assert not box.is_current(old_token)


def test_new_tokens_are_under_the_current_key_alone() -> None:
    token = SecretBox("new key", ["old key"]).encrypt("ghl-access-token")
    assert SecretBox("new key").decrypt(token) == "ghl-access-token"
    assert SecretBox("new key", ["old key"]).is_current(token)
    with pytest.raises(SecretUnreadable):
        SecretBox("old key").decrypt(token)


def test_rotate_re_encrypts_under_the_current_key_keeping_plaintext_and_time() -> None:
    old_token = SecretBox("old key").encrypt("é secret")
    rotated = SecretBox("new key", ["old key"]).rotate(old_token)
    assert rotated != old_token
    assert SecretBox("new key").decrypt(rotated) == "é secret"
    assert SecretBox("new key").is_current(rotated)
    new_fernet = Fernet(base64.urlsafe_b64encode(_derived("new key")))
    old_fernet = Fernet(base64.urlsafe_b64encode(_derived("old key")))
    assert new_fernet.extract_timestamp(rotated.encode()) == old_fernet.extract_timestamp(
        old_token.encode()
    )


def test_a_token_no_key_opens_cannot_be_rotated_and_the_error_names_the_fallbacks() -> None:
    stray = SecretBox("stray key").encrypt("ghl-access-token")
    box = SecretBox("new key", ["old key"])
    for attempt in (box.rotate, box.decrypt):
        with pytest.raises(SecretUnreadable, match="no key in SECRET_KEY_FALLBACKS") as raised:
            attempt(stray)
        assert "ghl-access-token" not in str(raised.value)
    assert not box.is_current(stray)
    assert not box.is_current("not-a-fernet-token")


def test_without_fallbacks_the_error_says_where_the_previous_key_goes() -> None:
    token = SecretBox("old key").encrypt("ghl-access-token")
    with pytest.raises(SecretUnreadable, match="put the previous key in SECRET_KEY_FALLBACKS"):
        SecretBox("new key").decrypt(token)


@pytest.mark.parametrize(
    ("fallbacks", "error", "message"),
    [
        (["old key", ""], ValueError, "SECRET_KEY_FALLBACKS holds an empty key"),
        ("old key", TypeError, "not one string"),
    ],
    ids=["empty", "string"],
)
def test_malformed_fallbacks_are_refused(
    fallbacks: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SecretBox("new key", fallbacks)


def _derived(secret_key: str) -> bytes:
    """The Fernet key derived from ``secret_key``, computed independently of SecretBox."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"socialbridge secrets v1"
    ).derive(secret_key.encode())


def test_new_webhook_secrets_are_standard_webhooks_secrets() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert check_webhook_secret(secret) == secret
    assert new_webhook_secret() != secret


@pytest.mark.parametrize(
    "secret",
    [
        "sk_" + base64.b64encode(b"x" * 24).decode(),
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
    ],
    ids=["prefix", "base64", "length"],
)
def test_malformed_webhook_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        check_webhook_secret(secret)
