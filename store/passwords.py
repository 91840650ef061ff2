"""Password hashes: scrypt from hashlib, a random salt per password, a versioned string.

    scrypt$v1$<n>$<r>$<p>$<salt, urlsafe base64>$<hash, urlsafe base64>

``v1`` names this layout; the cost parameters travel in the string, so raising them later
leaves older hashes verifiable (``needs_rehash`` says which to replace at the next sign-in).
No native dependency beyond the OpenSSL Python already links.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
VERSION = "v1"
# 2**14 x 8 x 128 bytes = 16 MiB of memory and tens of milliseconds per hash: costly for
# someone guessing offline, cheap enough for a sign-in.
N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Longer passwords are refused before hashing: scrypt's cost grows with its input.
MAX_PASSWORD_CHARS = 1024
MIN_PASSWORD_CHARS = 10


class PasswordRefused(ValueError):
    """A new password does not meet the rules; the message says which."""


def check_new_password(password: str) -> None:
    """PasswordRefused unless ``password`` may be set."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRefused(f"password: at least {MIN_PASSWORD_CHARS} characters, please")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRefused(f"password: at most {MAX_PASSWORD_CHARS} characters")
    if password != password.strip():
        raise PasswordRefused("password: no spaces at its start or end (a copy-paste slip?)")


def hash_password(password: str) -> str:
    """The versioned scrypt string of ``password`` under a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P)
    return "$".join((SCHEME, VERSION, str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` is the one ``encoded`` was made from (False for a malformed hash)."""
    parsed = _parse(encoded)
    if parsed is None or len(password) > MAX_PASSWORD_CHARS:
        return False
    n, r, p, salt, expected = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def needs_rehash(encoded: str) -> bool:
    """Whether ``encoded`` was made with other parameters than today's."""
    parsed = _parse(encoded)
    return parsed is None or parsed[:3] != (N, R, P)


@functools.cache
def dummy_hash() -> str:
    """A hash of nothing anyone knows, made once per process.

    Verified against when no user has the email given, so that an unknown address costs as
    long as a known one and the time of an answer does not tell which addresses exist.
    """
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + 1024 * 1024,
        dklen=HASH_BYTES,
    )


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 7 or parts[0] != SCHEME or parts[1] != VERSION:
        return None
    try:
        n, r, p = (int(part) for part in parts[2:5])
        salt, digest = (base64.b64decode(part, altchars=b"-_", validate=True) for part in parts[5:])
    except ValueError:
        return None
    if not salt or not 16 <= len(digest) <= 64:
        return None
    # Bounds keep a tampered row from asking for gigabytes of memory.
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    return n, r, p, salt, digest


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")
