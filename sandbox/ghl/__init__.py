"""A sandbox HighLevel (GHL) Social Planner server, faithful to the official OpenAPI files.

app = create_sandbox_ghl_app()            # token "pit-sandbox-demo" -> location "loc_demo"
with ServerThread(app) as server:         # from sandbox.server
    httpx.get(f"{server.url}/social-media-posting/loc_demo/tags", headers=...)
"""

from sandbox.ghl.app import (
    DEFAULT_LOCATION,
    DEFAULT_TOKEN,
    DEFAULT_TOKENS,
    SandboxGHL,
    create_sandbox_ghl_app,
)
from sandbox.ghl.spec import API_VERSION, API_VERSION_V3

__all__ = [
    "API_VERSION",
    "API_VERSION_V3",
    "DEFAULT_LOCATION",
    "DEFAULT_TOKEN",
    "DEFAULT_TOKENS",
    "SandboxGHL",
    "create_sandbox_ghl_app",
]
