"""The sandbox mail server in the functional suite, and the moves a test makes with it.

IXACT Contact cannot call anyone: whatever posts for it (a form service, an automation tool)
sends its own JSON with ``Authorization: Bearer <inbound_token>``, and the connection's
mapping makes our event of it. Here that mapping is the one `make run` ships for demo-ixact
(``console/demo/demo_ixact.yaml``), and the bodies are the ones `demo send` posts for it
(`cli.dev.demo_connections.demo_ixact_body`), so the suite runs what a user tries first.

Each write-back is one email through the sandbox mail server (``System.mail_url`` and
``System.smtp_port``): STARTTLS with a certificate made for the run and trusted through the
``smtp_ca_file`` setting, then AUTH with the sandbox's seed login. `Ixact` wraps a `System`:

    mail.connect()                            an ixact connection through the sandbox
    mail.post(connection, body(...))          as the automation posts
    mail.messages(to="ann@example.com")       what the server took, oldest first
    mail.fault(kind="reply", code=421)        the next DATA answered 421 (sandbox.mail.faults)
    mail.cli("ixact", "export-groups", ...)   the real console script, with the system's settings

The mail server is shared by every test (and both databases) of a run: the ``ixact`` fixture
empties its messages and faults before and after each test.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from console.demo import demo_ixact_body, demo_ixact_mapping
from crm.registry import load_settings
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER
from store import ConnectionRecord
from tests.functional.harness import System, worker_environment
from tests.functional.smartoffice import socialbridge

SENDER = DEMO_SMTP_USER
"""The authorized sender address: the SMTP login's own, as a mail provider would allow."""
NOTES = "notes@ixactcontact.com"


def body(
    event_type: str,
    contact: str,
    *,
    first_name: str = "",
    last_name: str = "",
    post_id: str = "crm-post-1",
    ghl_post_id: str | None = None,
    tag_ids: tuple[str, ...] = (),
    title: str = "Open house",
    request_id: str | None = None,
) -> dict[str, Any]:
    """What the automation posts for ``event_type`` about ``contact`` (a fresh request id
    unless given); a name left empty is not sent at all."""
    sent = demo_ixact_body(
        event_type,
        post_id=post_id,
        ghl_post_id=ghl_post_id,
        tag_ids=tag_ids,
        title=title,
        contact_email=contact,
        first_name=first_name,
        last_name=last_name,
        request_id=request_id,
    )
    sent["contact"] = {key: value for key, value in sent["contact"].items() if value}
    return sent


def contact_address(label: str) -> str:
    """A contact address of its own for one test: ``<label>-<random>@example.com``."""
    return f"{label}-{secrets.token_hex(3)}@example.com"


@dataclass
class Ixact:
    """The sandbox mail server of a running system, and the system's IXACT connections."""

    system: System
    ca_file: Path

    @property
    def url(self) -> str:
        if not self.system.mail_url:
            raise RuntimeError("this System runs no sandbox mail server")
        return self.system.mail_url

    # --- connections and bodies -------------------------------------------------------------
    def settings(self, **overrides: str | int) -> dict[str, Any]:
        """The settings of a connection through the sandbox, as `connections add` stores them."""
        given: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.system.smtp_port,
            "smtp_security": "starttls",
            "smtp_ca_file": str(self.ca_file),
            "smtp_user": DEMO_SMTP_USER,
            "smtp_password": DEMO_SMTP_PASSWORD,
            "sender": SENDER,
            # notes_address left to its default, IXACT's capture address (NOTES).
            **overrides,
        }
        return load_settings("ixact", given)

    def connect(self, *, mapping: str | None = None, **settings: str | int) -> ConnectionRecord:
        """A new IXACT connection to the demo location, taking Bearer-token bodies mapped by
        ``mapping`` (default: the one `make run` ships)."""
        return self.system.store.create_connection(
            name=f"ixact-{secrets.token_hex(4)}",
            location_id="loc_demo",
            ghl_token="pit-sandbox-demo",
            crm_kind="ixact",
            crm_settings=self.settings(**settings),
            inbound_auth="token",
            mapping=demo_ixact_mapping() if mapping is None else mapping,
        )

    def post(
        self, connection: ConnectionRecord, sent: Mapping[str, Any], *, token: str | None = None
    ) -> httpx.Response:
        """POST a body to the connection's webhook URL with its inbound token."""
        return self.system.http.post(
            f"{self.system.web_url}/webhooks/crm/{connection.id}",
            content=json.dumps(sent).encode(),
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {token or connection.inbound_token}",
            },
        )

    # --- the sandbox ----------------------------------------------------------------------
    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """``GET /messages``: what the server took, oldest first; only ``to``'s when given
        (an envelope recipient, or in To or Cc)."""
        params = {} if to is None else {"to": to}
        response = self.system.http.get(f"{self.url}/messages", params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def fault(self, **fault: Any) -> None:
        """Queue a fault (`sandbox.mail.faults`): it waits for its SMTP command."""
        self.system.http.post(f"{self.url}/_sandbox/faults", json=fault).raise_for_status()

    def reset(self) -> None:
        """No messages, no pending faults."""
        self.system.http.delete(f"{self.url}/_sandbox/messages").raise_for_status()
        self.system.http.delete(f"{self.url}/_sandbox/faults").raise_for_status()

    # --- the command line -------------------------------------------------------------------
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``socialbridge ARGS`` as an operator would, against the system's store."""
        return socialbridge(*args, env=worker_environment(self.system.settings))
