"""The public URLs of socialbridge, built in one place from ``PUBLIC_URL`` (`Settings.base_url`).

The CLI prints them, the web process redirects to them and GHL is told them, so each is
written once here, where the command line and the web routes can both import it:

    webhook_url(settings, "con_…")     {base}/webhooks/crm/con_…          the CRM POSTs events
    install_url(settings, "con_…")     {base}/oauth/ghl/start?connection=con_…   starts an install
    oauth_redirect_uri(settings)       {base}/oauth/ghl/callback          GHL sends the code back
    ghl_app_webhook_url(settings)      {base}/webhooks/ghl                GHL's INSTALL/UNINSTALL

The redirect URI and the app webhook URL are also entered in the GHL marketplace app's
settings (docs/ghl-auth.md): GHL refuses an authorization whose ``redirect_uri`` is not
registered there, character for character.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from socialbridge.config import Settings

INSTALL_PATH = "/oauth/ghl/start"
OAUTH_CALLBACK_PATH = "/oauth/ghl/callback"
GHL_APP_WEBHOOK_PATH = "/webhooks/ghl"
CRM_WEBHOOK_PREFIX = "/webhooks/crm/"


def webhook_url(settings: Settings, connection_id: str) -> str:
    """Where the CRM of a connection POSTs its events."""
    return f"{settings.base_url}{CRM_WEBHOOK_PREFIX}{quote(connection_id, safe='')}"


def install_url(settings: Settings, connection_id: str) -> str:
    """The page that starts the GHL install of an OAuth connection (it redirects to GHL)."""
    return f"{settings.base_url}{INSTALL_PATH}?{urlencode({'connection': connection_id})}"


def oauth_redirect_uri(settings: Settings) -> str:
    """Where GHL sends the browser back with the authorization code (``redirect_uri``)."""
    return f"{settings.base_url}{OAUTH_CALLBACK_PATH}"


def ghl_app_webhook_url(settings: Settings) -> str:
    """Where GHL delivers the app's INSTALL and UNINSTALL webhooks."""
    return f"{settings.base_url}{GHL_APP_WEBHOOK_PATH}"
