"""Encryption of secrets at rest: Fernet with keys derived from SECRET_KEY and its fallbacks.

The Fernet key is derived with HKDF-SHA256 rather than used directly so that SECRET_KEY can be
any string (it also signs web sessions) and so that this use of it has its own key.

To change SECRET_KEY without losing what is stored, the previous keys go in
SECRET_KEY_FALLBACKS: a ``SecretBox`` encrypts under the current key only and decrypts under
any of them (``MultiFernet``). ``rotate`` re-encrypts one token under the current key, which
``Store.rotate_secrets`` does to every stored secret so the fallbacks can then be dropped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from store.errors import SecretUnreadable

_HKDF_INFO = b"socialbridge secrets v1"


def _fernet_of(secret_key: str) -> Fernet:
    # Unchanged since the first release: data stored then stays readable with the same key.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    """Encrypts and decrypts short secrets (tokens, webhook secrets) as text tokens.

    ``secret_key`` is SECRET_KEY, under which every new token is made; ``fallbacks`` are older
    keys (SECRET_KEY_FALLBACKS) that still decrypt what was stored under them.
    """

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = ()) -> None:
        if not secret_key:
            raise ValueError("SECRET_KEY is empty: it is needed to encrypt secrets at rest")
        if isinstance(fallbacks, str):
            # A lone string would be taken as a sequence of one-character keys.
            raise TypeError("fallbacks: expected a sequence of keys, not one string")
        if any(not key for key in fallbacks):
            raise ValueError("SECRET_KEY_FALLBACKS holds an empty key")
        self._current = _fernet_of(secret_key)
        self._fernet = MultiFernet([self._current, *(_fernet_of(key) for key in fallbacks)])
        # Only to word the error: whether an unreadable token was tried with older keys too.
        self._has_fallbacks = bool(fallbacks)

    def encrypt(self, plaintext: str) -> str:
        """A Fernet token (URL-safe text) holding ``plaintext``, under the current key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``; SecretUnreadable when no key can open it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise self._unreadable() from None

    def is_current(self, token: str) -> bool:
        """Whether ``token`` opens with the current key alone (so rotating it changes nothing)."""
        try:
            self._current.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the current key; SecretUnreadable when no key opens it.

        The plaintext is unchanged, and so is the token's timestamp (MultiFernet keeps it).
        """
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise self._unreadable() from None

    def _unreadable(self) -> SecretUnreadable:
        changed = "a stored secret cannot be decrypted: SECRET_KEY changed since it was stored"
        if self._has_fallbacks:
            return SecretUnreadable(
                f"{changed} and no key in SECRET_KEY_FALLBACKS opens it either (add the key "
                "that stored it to SECRET_KEY_FALLBACKS, or re-create the connection's secrets)"
            )
        return SecretUnreadable(
            f"{changed} (put the previous key in SECRET_KEY_FALLBACKS, or re-create the "
            "connection's secrets)"
        )
