"""GHL OAuth under `make run`: the sandbox's marketplace app, and `demo-oauth` installed with it.

The sandbox GHL registers one marketplace app (`sandbox.ghl.oauth`) whose client accepts any
http(s) redirect URI, so whatever port `make run` gives the web process, its callback
(``PUBLIC_URL/oauth/ghl/callback``) is accepted. `oauth_environment` points socialbridge at it:
GHL_CLIENT_ID and GHL_CLIENT_SECRET are the app's, GHL_OAUTH_AUTHORIZE_URL is the sandbox's
chooselocation page; GHL_WEBHOOK_PUBLIC_KEY, the key the sandbox signs its app webhooks
(INSTALL, UNINSTALL) with, is read from the running sandbox (`fetch_webhook_public_key`), as
GHL's is published.

    demo-oauth    kind webhook, like `demo`, writing back to the sandbox CRM's account
                  `demo-oauth`; GHL authorized by OAuth for loc_demo.

The sandbox keeps its grants in memory, so the tokens of a previous run are dead at the next:
`install_demo_oauth` installs `demo-oauth` at every start, through the web process exactly as
a person would (its install URL, the sandbox's chooselocation page approving loc_demo, the
callback exchanging the code), never by writing tokens. An OAuth connection added by hand
needs its install URL again after a restart of `make run` for the same reason.

The client id and secret are copied from `sandbox.ghl.oauth` rather than imported (no product
package imports `sandbox`; a test keeps the copies equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from cli.dev.demo_connections import (
    DEMO_LOCATION_ID,
    DemoConnection,
    DemoConnectionError,
    find_or_create_demo,
)

DEMO_OAUTH_NAME = "demo-oauth"
SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - public, valid only in the sandbox
CHOOSE_LOCATION_PATH = "/v2/oauth/chooselocation"
WEBHOOK_PUBLIC_KEY_PATH = "/_sandbox/webhook-public-key"
# How much of an unexpected page to quote in an error.
QUOTED_CHARS = 300


@dataclass(frozen=True)
class DemoOAuth:
    """`demo-oauth` as the banner shows it: the connection, its install URL, how the install
    at this start went (``problem`` says why it did not)."""

    connection: DemoConnection
    install_url: str
    installed: bool
    problem: str | None = None


def sandbox_authorize_url(ghl_url: str) -> str:
    """The sandbox GHL's chooselocation page (GHL_OAUTH_AUTHORIZE_URL)."""
    return f"{ghl_url}{CHOOSE_LOCATION_PATH}"


def fetch_webhook_public_key(http: httpx.Client, ghl_url: str) -> str:
    """The sandbox's app-webhook public key, as one line (``\\n`` for its line breaks).

    Settings files are KEY=VALUE lines; GHL_WEBHOOK_PUBLIC_KEY reads a PEM written so.
    """
    url = f"{ghl_url}{WEBHOOK_PUBLIC_KEY_PATH}"
    try:
        response = http.get(url)
    except httpx.HTTPError as error:
        raise DemoConnectionError(f"the sandbox GHL did not answer {url}: {error}") from error
    if not response.is_success or "BEGIN PUBLIC KEY" not in response.text:
        raise DemoConnectionError(
            f"the sandbox GHL gave no public key at {url} (HTTP {response.status_code})"
        )
    return response.text.strip().replace("\n", "\\n")


def oauth_environment(ghl_url: str) -> dict[str, str]:
    """The settings that make socialbridge install the sandbox's marketplace app.

    GHL_WEBHOOK_PUBLIC_KEY is added once the sandbox runs (`fetch_webhook_public_key`).
    """
    return {
        "GHL_CLIENT_ID": SANDBOX_CLIENT_ID,
        "GHL_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "GHL_OAUTH_AUTHORIZE_URL": sandbox_authorize_url(ghl_url),
    }


def ensure_demo_oauth_connection(
    database_url: str, secret_key: str, crm_url: str
) -> DemoConnection:
    """`demo-oauth`, created (not installed: no token yet) on the first start, then reused."""
    record, created = find_or_create_demo(
        database_url,
        secret_key,
        name=DEMO_OAUTH_NAME,
        ghl_auth="oauth",
        ghl_token="",
        crm_url=crm_url,
    )
    return DemoConnection(
        id=record.id,
        crm_url=record.crm_url,
        crm_secret=record.crm_secret,
        created=created,
        name=record.name,
        crm_kind=record.crm_kind,
        ghl_auth=record.ghl_auth,
    )


def install_demo_oauth(
    http: httpx.Client, install_url: str, location_id: str = DEMO_LOCATION_ID
) -> None:
    """Install a connection as a person would: open ``install_url``, approve ``location_id`` on
    the sandbox's chooselocation page, follow GHL's redirect to the callback.

    ``http`` must not follow redirects: each hop is checked. DemoConnectionError names the
    hop that went wrong and quotes what it answered.
    """
    start = _hop(http, install_url, "the install URL", 302)
    choose = start.headers["location"]
    # What the person clicks on the page: this location, approve.
    parts = urlsplit(choose)
    query = [*parse_qsl(parts.query), ("location_id", location_id), ("approve", "1")]
    approved = _hop(
        http,
        urlunsplit(parts._replace(query=urlencode(query))),
        "the sandbox's chooselocation page",
        302,
    )
    _hop(http, approved.headers["location"], "the OAuth callback", 200)


def _hop(http: httpx.Client, url: str, what: str, status: int) -> httpx.Response:
    try:
        response = http.get(url)
    except httpx.HTTPError as error:
        raise DemoConnectionError(f"{what} did not answer: {error}") from error
    if response.status_code != status or (status == 302 and "location" not in response.headers):
        # The pages are HTML for a person: their words, without the markup.
        text = " ".join(re.sub(r"<[^>]*>", " ", response.text).split())[:QUOTED_CHARS]
        raise DemoConnectionError(f"{what} answered HTTP {response.status_code}: {text}")
    return response
