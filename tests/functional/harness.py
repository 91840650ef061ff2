"""The whole system on real parts, for functional tests.

Embedded Redis, the sandbox GHL and CRM and the web app each serve real HTTP / RESP on
127.0.0.1; the worker is a real `celery worker` subprocess (prefork, one child) so it can be
killed. Only the timings are shortened (retry backoff), through the same settings users set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
from standardwebhooks import Webhook

from ghl.limiter import KEY_PREFIX as LIMITER_KEY_PREFIX
from socialbridge.config import Settings, settings_environment
from store import ConnectionRecord, EventRecord, Store

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("done", "dead")

# Short waits so retries happen within a test; the logic is the production one. Every stack
# with a real worker (this folder's and the browser tests' live console) runs with these.
QUICK_TIMINGS: dict[str, float] = {
    "retry_backoff_base": 0.2,
    "retry_backoff_max": 2.0,
    # Quick recovery: a due retry waits at most half a second for the sweep, and a dead
    # attempt is seen within three.
    "sweep_interval": 0.5,
    "lease_seconds": 3,
    "queued_lost_after": 3,
    "ghl_timeout": 10.0,
    "crm_timeout": 10.0,
}


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment a process needs to run with these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_")}
    return {**env, **settings_environment(settings), "PYTHONUNBUFFERED": "1"}


class Worker:
    """`celery -A workers worker` as a subprocess, with its log kept for the failure report."""

    def __init__(
        self, settings: Settings, log_path: Path, *, pool: str = "prefork", concurrency: int = 1
    ) -> None:
        """Prefork with one child by default, so that a test can kill the task's process;
        ``pool="threads"`` runs the Procfile's pool."""
        self.settings = settings
        self.log_path = log_path
        self.pool = pool
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers",
                    "worker",
                    "--pool",
                    self.pool,
                    "--concurrency",
                    str(self.concurrency),
                    "--queues",
                    "socialbridge",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--hostname",
                    f"test-{secrets.token_hex(3)}@%h",
                ],
                cwd=ROOT,
                env=worker_environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log_tail()}")

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        children: list[psutil.Process] = psutil.Process(self.process.pid).children()
        return children

    def kill_child(self) -> int:
        """SIGKILL the pool process running the task, as the OOM killer would."""
        (child,) = self.children()
        child.send_signal(signal.SIGKILL)
        return int(child.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class System:
    """Handles on every running part, and the moves a test makes with them."""

    settings: Settings
    store: Store
    web_url: str
    ghl_url: str
    crm_url: str
    worker: Worker
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    # The sandbox SmartOffice XML Engine (tests/functional/smartoffice.py drives it).
    smartoffice_url: str = ""
    # The sandbox mail server (tests/functional/ixact.py drives it): its HTTP pages, and the
    # port of its SMTP server on 127.0.0.1.
    mail_url: str = ""
    smtp_port: int = 0

    # --- connections -----------------------------------------------------------------------
    def new_connection(self, **overrides: Any) -> ConnectionRecord:
        """A fresh connection to the demo location, with its own account on the sandbox CRM."""
        account = overrides.pop("account", f"acct_{secrets.token_hex(4)}")
        values: dict[str, Any] = {
            "name": f"test-{account}",
            "location_id": "loc_demo",
            "ghl_token": "pit-sandbox-demo",
            "crm_url": f"{self.crm_url}/hooks/{account}",
        }
        values.update(overrides)
        connection = self.store.create_connection(**values)
        self.crm_account(account, connection.crm_secret)
        return connection

    def crm_account(self, account: str, secret: str) -> None:
        """Open ``account`` on the sandbox CRM, which takes write-backs signed with ``secret``
        at ``{crm_url}/hooks/{account}``."""
        self.http.post(
            f"{self.crm_url}/_sandbox/accounts", json={"account": account, "secret": secret}
        ).raise_for_status()

    # --- sending events ----------------------------------------------------------------------
    def send(
        self,
        connection: ConnectionRecord,
        event_type: str,
        data: Mapping[str, Any],
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        timestamp: dt.datetime | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        """POST a Standard-Webhooks-signed event, as a CRM does."""
        raw = (
            body
            if body is not None
            else json.dumps(
                {"type": event_type, "timestamp": _now().isoformat(), "data": dict(data)}
            ).encode()
        )
        msg_id = webhook_id or f"msg_{secrets.token_hex(8)}"
        when = timestamp or _now()
        signature = Webhook(secret or connection.webhook_secrets[0]).sign(
            msg_id, when, raw.decode()
        )
        return self.http.post(
            f"{self.web_url}/webhooks/crm/{connection.id}",
            content=raw,
            headers={
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": signature,
            },
        )

    def wait_for(
        self,
        event_id: str,
        until: Callable[[EventRecord], bool] = lambda e: e.status in FINAL,
        timeout: float = 45.0,
    ) -> EventRecord:
        deadline = time.monotonic() + timeout
        while True:
            event = self.store.get_event(event_id)
            if event is not None and until(event):
                return event
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"event {event_id} stuck at {event}\n--- worker log ---\n"
                    f"{self.worker.log_tail()}"
                )
            time.sleep(0.1)

    # --- the sandboxes ----------------------------------------------------------------------
    def ghl_fault(self, **fault: Any) -> None:
        self.http.post(f"{self.ghl_url}/_sandbox/faults", json=fault).raise_for_status()

    def crm_fault(self, **fault: Any) -> None:
        self.http.post(f"{self.crm_url}/_sandbox/faults", json=fault).raise_for_status()

    def ghl_journal(self) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self.http.get(f"{self.ghl_url}/_sandbox/journal").json()
        return journal

    def crm_deliveries(self, account_of: ConnectionRecord | None = None) -> list[dict[str, Any]]:
        deliveries: list[dict[str, Any]] = self.http.get(
            f"{self.crm_url}/_sandbox/deliveries"
        ).json()
        if account_of is None:
            return deliveries
        account = account_of.crm_url.rsplit("/", 1)[-1]
        return [d for d in deliveries if d.get("account") == account]

    def crm_get(self, connection: ConnectionRecord, path: str) -> Any:
        account = connection.crm_url.rsplit("/", 1)[-1]
        response = self.http.get(f"{self.crm_url}/_sandbox/accounts/{account}/{path}")
        response.raise_for_status()
        return response.json()

    def clear_faults(self) -> None:
        """Forget the faults still pending on both sandboxes: they answer normally again."""
        for url in (self.ghl_url, self.crm_url):
            self.http.delete(f"{url}/_sandbox/faults").raise_for_status()

    def reset_sandboxes(self) -> None:
        self.clear_faults()
        self.http.delete(f"{self.ghl_url}/_sandbox/journal").raise_for_status()
        self.reset_rate_limits()

    def reset_rate_limits(self) -> None:
        """Forget the shared GHL rate limiter's slots: every test meets loc_demo's whole
        budget, whatever an earlier test spent (a 429 there holds the location until its
        Retry-After, which would slow the next tests down)."""
        client = redis.Redis.from_url(self.settings.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{LIMITER_KEY_PREFIX}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
