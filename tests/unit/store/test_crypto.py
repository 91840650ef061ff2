from __future__ import annotations

import base64

import pytest

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
