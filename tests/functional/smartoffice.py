"""The sandbox SmartOffice XML Engine in the functional suite, and the moves a test makes with it.

SmartOffice cannot sign a request: its Adapter buttons and automations POST their own JSON
with ``Authorization: Bearer <inbound_token>``, and the connection's mapping (`MAPPING`, the
issue's example with an outbound part) makes our event of it. `SmartOffice` wraps a running
`System` whose ``smartoffice_url`` is the sandbox on real HTTP:

    office.connect()                      a token-auth SmartOffice connection (direct login)
    office.connect(settings=GATEWAY)      the same through the API gateway
    office.post(connection, crm_body(...))
    office.smartpads(DEMO_CONTACT_ID)     what landed, oldest first
    office.fault(code=2003, times=1)      the next XML Engine request answers error 2003
    office.requests()                     every request the sandbox received
    office.cli("mappings", "preview", …)  the real console script, with the system's settings
    socialbridge("mappings", "validate", …)   the same, for commands that need no system

The sandbox is shared by every test (and both databases) of a run: the ``smartoffice``
fixture puts it back to its seed before and after each test.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crm.registry import load_settings
from sandbox.smartoffice.state import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_CONTACT_ID,
    DEMO_OFFICE,
    DEMO_PASSWORD,
    DEMO_SITENAME,
    DEMO_USER,
)
from store import ConnectionRecord
from tests.functional.harness import ROOT, System, worker_environment

STATS_CONTACT_ID = "Contact.1.33"
"""Where statistics land when the body names no contact (a seed contact of the sandbox)."""

DIRECT: Mapping[str, str] = {
    "auth": "direct",
    "office": DEMO_OFFICE,
    "user": DEMO_USER,
    "password": DEMO_PASSWORD,
}
GATEWAY: Mapping[str, str] = {
    "auth": "gateway",
    "sitename": DEMO_SITENAME,
    "office": DEMO_OFFICE,
    "user": DEMO_USER,
    "api_key": DEMO_API_KEY,
    "api_secret": DEMO_API_SECRET,
}
SANDBOX_SECRETS = (DEMO_PASSWORD, DEMO_API_KEY, DEMO_API_SECRET)
"""The sandbox's seed password and gateway keys: never in a log line or a command's output."""

# The example, with the period of a statistics request and an outbound part for tag
# syncs; the other write-back types keep the connector's default texts.
MAPPING = """\
version: 1
inbound:
  type: {path: $.event, map: {social_post_published: post.published, tag_info: tag.details_requested, stats: statistics.requested}}
  id: $.delivery.id                 # idempotency key (token auth)
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
    tag_ids: $.post.tags[*].id
    start_date: {path: $.period.from, date: {from: "%m/%d/%Y", to: "%Y-%m-%d"}}
    end_date: {path: $.period.to, date: {from: "%m/%d/%Y", to: "%Y-%m-%d"}}
    record.contact_id: $.contact.id
outbound:
  post.tags_synced:
    Keywords: {path: "$.post_tags[*].name", default: social post, join: ", ", truncate: 255}
    Note:
      template: |-
        Social post {{ post_id }} is GHL post {{ ghl_post_id }}.
        Its tags: {{ post_tags | map(attribute="name") | join(", ") or "none yet" }}
"""  # noqa: E501 - the issue's line, as written

SOCIALBRIDGE = Path(sys.executable).with_name("socialbridge")
"""The installed console script, next to the interpreter running the tests."""


def crm_body(
    event: str,
    *,
    contact: str | None = DEMO_CONTACT_ID,
    delivery_id: str | None = None,
    post: Mapping[str, Any] | None = None,
    period: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """What a SmartOffice button posts: ``event`` (``social_post_published``, ``tag_info``,
    ``stats``), a fresh delivery id unless given, and the contact it was pressed on."""
    body: dict[str, Any] = {
        "event": event,
        "delivery": {"id": delivery_id or f"press_{secrets.token_hex(6)}"},
    }
    if contact is not None:
        body["contact"] = {"id": contact}
    if post is not None:
        body["post"] = dict(post)
    if period is not None:
        body["period"] = {"from": period[0], "to": period[1]}
    return body


@dataclass
class SmartOffice:
    """The sandbox SmartOffice of a running system, and the system's SmartOffice connections."""

    system: System

    @property
    def url(self) -> str:
        if not self.system.smartoffice_url:
            raise RuntimeError("this System runs no sandbox SmartOffice")
        return self.system.smartoffice_url

    # --- connections and bodies -------------------------------------------------------------
    def connect(
        self,
        *,
        settings: Mapping[str, str] = DIRECT,
        mapping: str = MAPPING,
        stats_contact_id: str | None = STATS_CONTACT_ID,
    ) -> ConnectionRecord:
        """A new SmartOffice connection to the demo location, taking Bearer-token bodies."""
        given = dict(settings)
        if stats_contact_id is not None:
            given["stats_contact_id"] = stats_contact_id
        return self.system.store.create_connection(
            name=f"so-{secrets.token_hex(4)}",
            location_id="loc_demo",
            ghl_token="pit-sandbox-demo",
            crm_kind="smartoffice",
            crm_url=f"{self.url}/xml",
            crm_settings=load_settings("smartoffice", given),
            inbound_auth="token",
            mapping=mapping,
        )

    def post(
        self,
        connection: ConnectionRecord,
        body: Mapping[str, Any],
        *,
        token: str | None = None,
    ) -> httpx.Response:
        """POST a CRM body to the connection's webhook URL with its inbound token."""
        return self.system.http.post(
            f"{self.system.web_url}/webhooks/crm/{connection.id}",
            content=json.dumps(body).encode(),
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {token or connection.inbound_token}",
            },
        )

    # --- the sandbox ----------------------------------------------------------------------
    def smartpads(self, contact_id: str | None = None) -> list[dict[str, Any]]:
        """The SmartPads stored, oldest first; only ``contact_id``'s when given."""
        params = {} if contact_id is None else {"contact_id": contact_id}
        response = self.system.http.get(f"{self.url}/_sandbox/smartpads", params=params)
        response.raise_for_status()
        pads: list[dict[str, Any]] = response.json()
        return pads

    def fault(self, **fault: Any) -> None:
        """Queue a fault (`sandbox.smartoffice.faults`): it takes the next XML Engine request."""
        self.system.http.post(f"{self.url}/_sandbox/faults", json=fault).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """Every request the XML Engine received since the last reset, oldest first."""
        response = self.system.http.get(f"{self.url}/_sandbox/requests")
        response.raise_for_status()
        log: list[dict[str, Any]] = response.json()
        return log

    def reset(self) -> None:
        """Back to the seed: SmartPads, requests, sessions and faults go."""
        self.system.http.delete(f"{self.url}/_sandbox/state").raise_for_status()

    # --- the command line -------------------------------------------------------------------
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``socialbridge ARGS`` as an operator would, against the system's store and GHL."""
        return socialbridge(*args, env=worker_environment(self.system.settings))


def socialbridge(
    *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``socialbridge ARGS`` in the project folder; ``env``: the whole
    environment (default: this process's)."""
    return subprocess.run(
        [str(SOCIALBRIDGE), *args],
        cwd=ROOT,
        env={**(os.environ if env is None else env), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def operations(request: Mapping[str, Any]) -> list[str]:
    """The operations one logged sandbox request ran (``["search"]``, ``["insert"]``)."""
    return [operation["operation"] for operation in request["operations"]]
