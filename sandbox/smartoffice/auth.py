"""Who sent a request: the request ``<header>`` and the gateway's HTTP headers, checked.

Two modes, both taken on the same endpoint:

- direct: ``<office>``, ``<user>`` and ``<password>`` filled in ``<header>``, matching an
  account with a password;
- gateway: the HTTP headers ``sitename``, ``username`` (``<sitename>_<office>_<user>``),
  ``api-key`` and ``api-secret``, with the three header elements present and empty. A request
  carrying any of those HTTP headers is a gateway request.

Every refusal is the top-level ``<error code="2002">`` of a failed login, answered with HTTP
200 like every engine error: the vendor does not say how its gateway answers bad keys, and a
client that reads the body whatever the HTTP status handles this and a real gateway's own
status alike. A gateway request whose header elements are filled is refused too, with a
message saying so: credentials belong in one place.

The header holds nothing else but ``<keepsession>`` (``true``/``false``, also ``1``/``0``);
an unknown element there is a top-level 1002, a bad keepsession value a top-level 2.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.smartoffice.state import Account, AccountKey, same_secret

GATEWAY_HEADERS = ("sitename", "username", "api-key", "api-secret")
_CREDENTIALS = ("office", "user", "password")
_HEADER_ELEMENTS = {*_CREDENTIALS, "keepsession"}


class LoginRefused(Exception):
    """The request cannot run as anyone; `code` and `message` go in the top-level error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Login:
    account: Account
    mode: str  # "direct" or "gateway"
    keep_session: bool
    api_key: str | None = None


def claimed_identity(header: ET.Element, http_headers: Mapping[str, str]) -> dict[str, str]:
    """Who the request says it is, for the request log: never a password or an api-secret."""
    claimed = {name: (header.findtext(name) or "") for name in ("office", "user")}
    for name in ("sitename", "username", "api-key"):
        if name in http_headers:
            claimed[name.replace("-", "_")] = http_headers[name]
    return {name: value for name, value in claimed.items() if value}


def log_in(
    header: ET.Element, http_headers: Mapping[str, str], accounts: Mapping[AccountKey, Account]
) -> Login:
    """The account the request runs as; raise LoginRefused otherwise.

    `http_headers` are keyed by lower-case name.
    """
    for child in header:
        if child.tag not in _HEADER_ELEMENTS:
            raise LoginRefused(1002, f"Unknown tag name in <header>: {child.tag}.")
        if len(header.findall(child.tag)) > 1:
            raise LoginRefused(1001, f"<{child.tag}> is given twice in <header>.")
    keep_session = _keep_session(header.findtext("keepsession"))
    if any(name in http_headers for name in GATEWAY_HEADERS):
        return _gateway(header, http_headers, accounts, keep_session)
    return _direct(header, accounts, keep_session)


def _keep_session(text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise LoginRefused(2, "keepsession: expected true or false.")


def _direct(
    header: ET.Element, accounts: Mapping[AccountKey, Account], keep_session: bool
) -> Login:
    office, user, password = (header.findtext(name) or "" for name in _CREDENTIALS)
    account = accounts.get((office.strip(), user.strip()))
    if account is None or account.password is None or not same_secret(password, account.password):
        raise LoginRefused(2002, "Login failed.")
    return Login(account, "direct", keep_session)


def _gateway(
    header: ET.Element,
    http_headers: Mapping[str, str],
    accounts: Mapping[AccountKey, Account],
    keep_session: bool,
) -> Login:
    missing = [name for name in _CREDENTIALS if header.find(name) is None]
    filled = [name for name in _CREDENTIALS if (header.findtext(name) or "").strip()]
    if missing or filled:
        raise LoginRefused(
            2002,
            "Login failed: a gateway request carries its credentials in HTTP headers; "
            "<office/>, <user/> and <password/> must be present and empty in <header>.",
        )
    if not all(http_headers.get(name) for name in GATEWAY_HEADERS):
        raise LoginRefused(
            2002, "Login failed: sitename, username, api-key and api-secret are all required."
        )
    sitename, username = http_headers["sitename"], http_headers["username"]
    api_key, api_secret = http_headers["api-key"], http_headers["api-secret"]
    for account in accounts.values():
        if account.sitename != sitename or account.gateway_username != username:
            continue
        for key in account.api_keys:
            # Both compared whatever the first says, so the time taken tells nothing.
            key_ok = same_secret(api_key, key.api_key)
            secret_ok = same_secret(api_secret, key.api_secret)
            if key_ok and secret_ok:
                return Login(account, "gateway", keep_session, key.api_key)
    raise LoginRefused(2002, "Login failed.")
