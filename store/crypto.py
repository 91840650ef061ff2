"""Encryption of secrets at rest: Fernet with a key derived from SECRET_KEY.

The Fernet key is derived with HKDF-SHA256 rather than used directly so that SECRET_KEY can be
any string (it also signs web sessions) and so that this use of it has its own key.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from store.errors import SecretUnreadable

_HKDF_INFO = b"socialbridge secrets v1"


class SecretBox:
    """Encrypts and decrypts short secrets (tokens, webhook secrets) as text tokens."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("SECRET_KEY is empty: it is needed to encrypt secrets at rest")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> str:
        """A Fernet token (URL-safe text) holding ``plaintext``."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``; SecretUnreadable when the key cannot open it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted: SECRET_KEY changed since it was stored "
                "(restore the previous SECRET_KEY, or re-create the connection's secrets)"
            ) from None
