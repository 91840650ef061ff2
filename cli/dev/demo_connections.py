"""The demo connections of `make run`, and the CRM-shaped bodies `demo send` posts.

    demo              kind webhook; writes back to the sandbox CRM's hook of account `demo`;
                      inbound POSTs signed the Standard Webhooks way, in our event format.
    demo-smartoffice  kind smartoffice; writes SmartPads through the SmartOffice sandbox's XML
                      Engine (its seed office, user and password); inbound POSTs carry
                      ``Authorization: Bearer <inbound token>`` and the CRM's own JSON, made
                      into our events by the mapping shipped in
                      ``console/demo`` (``demo_smartoffice.yaml``).
    demo-ixact        kind ixact; each write-back is one email sent through the sandbox mail
                      server (SMTP on loopback, no TLS, its seed login) from the demo's
                      authorized sender, To the contact, envelope to notes@ixactcontact.com
                      only; inbound POSTs carry the inbound token and what a user's automation
                      would post about a contact, made into our events by ``demo_ixact.yaml``.
    demo-oauth        as `demo`, on the sandbox CRM's account `demo-oauth`, with GHL
                      authorized by OAuth instead of a Private Integration token
                      (`cli.dev.demo_oauth`, which installs it).

All are made on the first start and reused as they are on the next ones, so ids, secrets and
tokens stay the same across restarts; a reused connection that no longer points at this run's
sandbox, or whose mapping was edited, is reported (`DemoConnection.drift`), never changed
behind the operator's back.

The shipped mappings and the bodies the CRM side would POST for them live in `console.demo`,
beside each other, since the console's "send test event" builds them too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from console.demo import (
    DEMO_CONTACT_ID,
    DEMO_IXACT_CONTACT_EMAIL,
    DEMO_IXACT_MAPPING,
    DEMO_SMARTOFFICE_MAPPING,
    IXACT_KIND,
    SMARTOFFICE_KIND,
    demo_ixact_mapping,
    demo_smartoffice_mapping,
)
from socialbridge.errors import SocialbridgeError

if TYPE_CHECKING:
    from store import ConnectionRecord

DEMO_CONNECTION_NAME = "demo"
DEMO_SMARTOFFICE_NAME = "demo-smartoffice"
DEMO_LOCATION_ID = "loc_demo"
DEMO_GHL_TOKEN = "pit-sandbox-demo"  # noqa: S105 - the sandbox GHL's published demo token
# The SmartOffice sandbox's seed login and contact, as `sandbox.smartoffice.state` has them (a
# test keeps the two equal). Copied rather than imported: no product package imports
# `sandbox`, and `make run` speaks to it over HTTP only, as to a real SmartOffice.
SANDBOX_OFFICE = "demo"
SANDBOX_USER = "agent"
SANDBOX_PASSWORD = "sandbox-password"  # noqa: S105 - the sandbox's published seed password

DEMO_IXACT_NAME = "demo-ixact"
SANDBOX_MAIL_HOST = "127.0.0.1"
# The mail sandbox's seed SMTP login, as `sandbox.mail.state` has it (a test keeps the two
# equal; copied for the reason given above). The login is also the demo's authorized sender:
# a real mail provider lets an account send as itself.
SANDBOX_SMTP_USER = "agent@example.com"
SANDBOX_SMTP_PASSWORD = "sandbox-password"  # noqa: S105 - the sandbox's published seed password
DEMO_IXACT_SENDER = SANDBOX_SMTP_USER


class DemoConnectionError(SocialbridgeError):
    """A demo connection cannot be read, made or registered; the message says what to do."""


@dataclass(frozen=True)
class DemoConnection:
    """What the banner and the sandbox CRM need to know about a demo connection."""

    id: str
    # Where write-backs go: a URL, or for IXACT the mail server's (``smtp://host:port``).
    crm_url: str
    # The webhook kind's signing secret, which the sandbox CRM must learn; "" for the others.
    crm_secret: str
    created: bool
    name: str = DEMO_CONNECTION_NAME
    crm_kind: str = "webhook"
    # False when a reused connection's mapping is not the shipped one (edited, or older).
    shipped_mapping: bool = True
    # How it authorizes with GHL: "pit" (the sandbox's demo token) or "oauth" (demo-oauth).
    ghl_auth: str = "pit"

    def drift(self, expected_crm_url: str, sandbox: str) -> list[str]:
        """How this connection differs from a new one for ``sandbox``: one note each.

        `make run` reuses a connection as it finds it, so the operator hears what no longer
        fits (a sandbox moved to another port, a mapping edited) instead of losing it.
        """
        notes = []
        if self.crm_url != expected_crm_url:
            notes.append(
                f"the {self.name} connection writes back to {self.crm_url}, not to {sandbox} "
                f"({expected_crm_url}); delete var/ to recreate it."
            )
        if not self.shipped_mapping:
            notes.append(
                f"the {self.name} connection's mapping is not the one `make run` ships, so "
                f"`demo send` needs --body FILE for it; delete var/ to recreate it."
            )
        return notes


# --- demo: the webhook CRM ---------------------------------------------------------------


def demo_crm_url(crm_base_url: str, account: str = DEMO_CONNECTION_NAME) -> str:
    """Where `demo` (or another webhook demo, by its account) writes back: the sandbox CRM's
    hook of that account."""
    return f"{crm_base_url}/hooks/{account}"


def ensure_demo_connection(database_url: str, secret_key: str, crm_url: str) -> DemoConnection:
    """The `demo` connection, created on the first start and reused on the next ones."""
    record, created = find_or_create_demo(
        database_url, secret_key, name=DEMO_CONNECTION_NAME, crm_url=crm_url
    )
    return DemoConnection(record.id, record.crm_url, record.crm_secret, created)


def register_demo_account(
    http: httpx.Client,
    crm_base_url: str,
    crm_secret: str,
    account: str = DEMO_CONNECTION_NAME,
) -> None:
    """Tell the sandbox CRM a demo connection's secret (it forgets accounts on restart).

    The account is the last part of the connection's CRM URL (`demo`, `demo-oauth`).
    """
    url = f"{crm_base_url}/_sandbox/accounts"
    try:
        response = http.post(url, json={"account": account, "secret": crm_secret})
    except httpx.HTTPError as error:
        raise DemoConnectionError(f"the sandbox CRM did not answer {url}: {error}") from error
    if not response.is_success:
        raise DemoConnectionError(
            f"the sandbox CRM refused the {account} account ({response.status_code}): "
            f"{response.text}"
        )


# --- my-oauth: the connection the banner invites you to add ------------------------------

TRY_OAUTH_NAME = "my-oauth"


def try_oauth_secret(database_url: str, secret_key: str) -> str:
    """The CRM secret of the `my-oauth` connection the banner's command adds.

    The sandbox CRM takes write-backs only for accounts it knows, with their secret, so
    `make run` registers `my-oauth` before anyone adds it: with the connection's own secret
    when it exists (added in an earlier run), else with one derived from SECRET_KEY, the
    same at every start, which the banner's command passes as --crm-secret.
    """
    from store import Store, StoreError

    store = Store(database_url, secret_key)
    try:
        record = store.find_connection(TRY_OAUTH_NAME)
    except StoreError as error:
        raise _unreadable(TRY_OAUTH_NAME, error) from error
    finally:
        store.dispose()
    if record is not None and record.crm_secret:
        return record.crm_secret
    digest = hmac.new(secret_key.encode(), b"sandbox-crm:my-oauth", hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest[:24]).decode("ascii")


# --- demo-smartoffice: the SmartOffice sandbox -------------------------------------------


def demo_smartoffice_url(smartoffice_base_url: str) -> str:
    """Where `demo-smartoffice` writes back: the SmartOffice sandbox's XML Engine endpoint."""
    return f"{smartoffice_base_url}/xml"


def demo_smartoffice_settings() -> dict[str, str]:
    """The connector settings of `demo-smartoffice`: the sandbox's seed login, direct mode."""
    return {
        "auth": "direct",
        "office": SANDBOX_OFFICE,
        "user": SANDBOX_USER,
        "password": SANDBOX_PASSWORD,
        "stats_contact_id": DEMO_CONTACT_ID,
    }


def ensure_demo_smartoffice_connection(
    database_url: str, secret_key: str, crm_url: str
) -> DemoConnection:
    """`demo-smartoffice`, created on the first start and reused on the next ones.

    Its settings and mapping are checked the way `connections add` checks them before
    anything is stored, so a shipped mapping that the mapping engine refuses stops `make run`
    with the engine's own line numbers rather than leaving a connection that maps nothing.
    """
    from socialbridge.inbound_auth import InboundAuth

    mapping = demo_smartoffice_mapping()
    settings = _checked(
        DEMO_SMARTOFFICE_NAME,
        SMARTOFFICE_KIND,
        demo_smartoffice_settings(),
        mapping,
        DEMO_SMARTOFFICE_MAPPING,
    )
    record, created = find_or_create_demo(
        database_url,
        secret_key,
        name=DEMO_SMARTOFFICE_NAME,
        crm_url=crm_url,
        crm_kind=SMARTOFFICE_KIND,
        crm_settings=settings,
        inbound_auth=InboundAuth.TOKEN,
        mapping=mapping,
    )
    return DemoConnection(
        id=record.id,
        crm_url=record.crm_url,
        crm_secret="",
        created=created,
        name=record.name,
        crm_kind=record.crm_kind,
        shipped_mapping=record.mapping == mapping,
    )


# --- demo-ixact: the sandbox mail server -------------------------------------------------


def demo_ixact_smtp_url(smtp_port: int) -> str:
    """Where `demo-ixact`'s emails go: the mail sandbox's SMTP server, as its connector names it."""
    return f"smtp://{SANDBOX_MAIL_HOST}:{smtp_port}"


def demo_ixact_settings(smtp_port: int) -> dict[str, str | int]:
    """The connector settings of `demo-ixact`: the mail sandbox with its seed login, in plain
    SMTP (allowed for a loopback host only); the demo contact holds scheduled statistics."""
    return {
        "smtp_host": SANDBOX_MAIL_HOST,
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "smtp_user": SANDBOX_SMTP_USER,
        "smtp_password": SANDBOX_SMTP_PASSWORD,
        "sender": DEMO_IXACT_SENDER,
        "stats_contact_email": DEMO_IXACT_CONTACT_EMAIL,
    }


def ensure_demo_ixact_connection(
    database_url: str, secret_key: str, smtp_port: int
) -> DemoConnection:
    """`demo-ixact`, created on the first start and reused on the next ones.

    Checked as `demo-smartoffice` is: the settings by the ixact kind, the shipped mapping
    against its outbound fields. A reused connection reports the mail server its settings
    name (`DemoConnection.crm_url`), so a moved SMTP port shows up as drift.
    """
    from crm.ixact.settings import SmtpSettings
    from socialbridge.inbound_auth import InboundAuth

    mapping = demo_ixact_mapping()
    settings = _checked(
        DEMO_IXACT_NAME, IXACT_KIND, demo_ixact_settings(smtp_port), mapping, DEMO_IXACT_MAPPING
    )
    record, created = find_or_create_demo(
        database_url,
        secret_key,
        name=DEMO_IXACT_NAME,
        crm_kind=IXACT_KIND,
        crm_settings=settings,
        inbound_auth=InboundAuth.TOKEN,
        mapping=mapping,
    )
    try:
        smtp_url = SmtpSettings.from_settings(record.crm_settings).url
    except ValueError as error:  # a reused connection whose settings were broken since
        raise DemoConnectionError(
            f"the {DEMO_IXACT_NAME} connection's settings cannot be used: {error}; "
            "delete var/ to recreate it."
        ) from error
    return DemoConnection(
        id=record.id,
        crm_url=smtp_url,
        crm_secret="",
        created=created,
        name=record.name,
        crm_kind=record.crm_kind,
        shipped_mapping=record.mapping == mapping,
    )


def _checked(
    name: str, kind_name: str, settings: Mapping[str, Any], mapping: str, mapping_file: str
) -> dict[str, Any]:
    """``settings`` as the kind stores them, once they and the shipped mapping pass the
    checks `connections add` makes; DemoConnectionError with the checks' own words."""
    from crm.registry import connector_kind, load_settings
    from mappings import MappingInvalid, load_mapping

    try:
        kind = connector_kind(kind_name)
        loaded = load_settings(kind_name, settings)
        load_mapping(mapping, outbound_fields=kind.capabilities.outbound_fields)
    except MappingInvalid as error:
        raise DemoConnectionError(
            f"the shipped mapping {mapping_file} is refused:\n{error}"
        ) from error
    except ValueError as error:  # an unknown kind, or settings the connector refuses
        raise DemoConnectionError(f"the {name} connection cannot be made: {error}") from error
    return loaded


def find_or_create_demo(
    database_url: str,
    secret_key: str,
    *,
    name: str,
    ghl_token: str = DEMO_GHL_TOKEN,
    **values: Any,
) -> tuple[ConnectionRecord, bool]:
    """The demo connection ``name`` as found, or created on the demo location with ``values``
    (and the sandbox's demo token, unless ``ghl_token`` says otherwise); and whether it was
    created."""
    from store import Store, StoreError

    store = Store(database_url, secret_key)
    try:
        record = store.find_connection(name)
        if record is not None:
            return record, False
        created = store.create_connection(
            name=name, location_id=DEMO_LOCATION_ID, ghl_token=ghl_token, **values
        )
        return created, True
    except StoreError as error:
        raise _unreadable(name, error) from error
    finally:
        store.dispose()


def _unreadable(name: str, error: Exception) -> DemoConnectionError:
    return DemoConnectionError(
        f"the {name} connection could not be read or created: {error}. "
        f"If var/secret_key was replaced, delete var/ to start afresh."
    )
