"""A sandbox HighLevel (GHL) Social Planner server, faithful to the official OpenAPI files.

app = create_sandbox_ghl_app()            # token "pit-sandbox-demo" -> location "loc_demo"
with ServerThread(app) as server:         # from sandbox.server
    httpx.get(f"{server.url}/social-media-posting/loc_demo/tags", headers=...)

OAuth installs use the default marketplace app (`SANDBOX_CLIENT_ID`, `SANDBOX_CLIENT_SECRET`);
app webhooks are signed with the key whose public half is `SANDBOX_WEBHOOK_PUBLIC_KEY_PEM`.
"""

from sandbox.ghl.app import (
    DEFAULT_LOCATION,
    DEFAULT_TOKEN,
    DEFAULT_TOKENS,
    SandboxGHL,
    create_sandbox_ghl_app,
)
from sandbox.ghl.app_webhooks import SANDBOX_WEBHOOK_PUBLIC_KEY_PEM
from sandbox.ghl.oauth import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.ghl.spec import API_VERSION, API_VERSION_V3

__all__ = [
    "API_VERSION",
    "API_VERSION_V3",
    "DEFAULT_LOCATION",
    "DEFAULT_TOKEN",
    "DEFAULT_TOKENS",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_WEBHOOK_PUBLIC_KEY_PEM",
    "SandboxGHL",
    "create_sandbox_ghl_app",
]
