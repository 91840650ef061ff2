"""Password hashing: scrypt, a salt per hash, a versioned string."""

from __future__ import annotations

import pytest

from store import passwords


def test_a_hash_verifies_its_password_only() -> None:
    encoded = passwords.hash_password("correct horse battery")

    assert passwords.verify_password("correct horse battery", encoded)
    assert not passwords.verify_password("correct horse batterY", encoded)
    assert not passwords.verify_password("", encoded)


def test_the_string_names_scheme_version_and_parameters() -> None:
    encoded = passwords.hash_password("correct horse battery")

    scheme, version, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, version) == ("scrypt", "v1")
    assert (int(n), int(r), int(p)) == (passwords.N, passwords.R, passwords.P)
    assert "correct horse battery" not in encoded
    assert salt
    assert digest
    assert not passwords.needs_rehash(encoded)


def test_each_hash_has_its_own_salt() -> None:
    first = passwords.hash_password("correct horse battery")
    second = passwords.hash_password("correct horse battery")

    assert first != second
    assert first.split("$")[5] != second.split("$")[5]


def test_older_parameters_still_verify_and_ask_for_a_rehash() -> None:
    salt = b"0123456789abcdef"
    digest = passwords._scrypt("correct horse battery", salt, 2**10, 8, 1)
    older = f"scrypt$v1$1024$8$1${passwords._b64(salt)}${passwords._b64(digest)}"

    assert passwords.verify_password("correct horse battery", older)
    assert passwords.needs_rehash(older)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain text",
        "scrypt$v2$16384$8$1$AAAA$" + "A" * 44,
        "scrypt$v1$1000$8$1$AAAA$AAAA",  # n not a power of two
        "scrypt$v1$1073741824$8$1$AAAA$AAAA",  # a gigabyte of memory
        "scrypt$v1$x$8$1$AAAA$AAAA",
        "scrypt$v1$16384$8$1$!!!$AAAA",
    ],
)
def test_a_malformed_hash_verifies_nothing(encoded: str) -> None:
    assert not passwords.verify_password("correct horse battery", encoded)
    assert passwords.needs_rehash(encoded)


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least"), ("x" * 1025, "at most"), (" padded password ", "no spaces")],
)
def test_new_passwords_follow_the_rules(password: str, reason: str) -> None:
    with pytest.raises(passwords.PasswordRefused, match=reason):
        passwords.check_new_password(password)
