"""The console's "send test event" with a real worker: the event it makes reaches ``done``.

The web app is the harness's (a real HTTP server), signed in to over HTTP as a browser does;
the form's event goes through the receiver's path in the web process, is queued in Redis and
run by the real Celery worker against the GHL and CRM sandboxes.
"""

from __future__ import annotations

import re
import secrets

import httpx

from sandbox.ghl.seed import seed_location
from store import UserRole
from tests.functional.harness import System

DEMO = seed_location("loc_demo")
PASSWORD = "correct horse battery"
SESSION_COOKIE = "socialbridge_session"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """An HTTP client that keeps the console's session cookie as a browser would.

    The cookie is ``Secure`` (SESSION_COOKIE_SECURE is on, as in production) and the harness
    serves plain HTTP on loopback, where httpx's cookie jar would drop it; Chromium keeps
    Secure cookies for localhost, and so does this.
    """

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, **data: str) -> httpx.Response:
        headers = {"cookie": self.cookie} if self.cookie else {}
        answer = self.http.request(method, path, data=data or None, headers=headers)
        for header in answer.headers.get_list("set-cookie"):
            if header.startswith(f"{SESSION_COOKIE}="):
                self.cookie = header.split(";", 1)[0]
        return answer

    def csrf(self, path: str) -> str:
        page = self.request("GET", path).text
        found = CSRF_INPUT.search(page)
        assert found is not None, page
        return found.group(1)


def _signed_in(bridge: System) -> Browser:
    """A client signed in as a new admin."""
    email = f"ops-{secrets.token_hex(4)}@example.com"
    bridge.store.add_user(email, PASSWORD, UserRole.ADMIN)
    browser = Browser(bridge.web_url)
    token = browser.csrf("/signin")
    answer = browser.request("POST", "/signin", email=email, password=PASSWORD, csrf_token=token)
    assert answer.status_code == 302, answer.text
    return browser


def test_a_test_event_from_the_console_reaches_done(bridge: System) -> None:
    connection = bridge.new_connection()
    browser = _signed_in(bridge)
    post = DEMO.posts[0]

    answer = browser.request(
        "POST",
        f"/connections/{connection.id}/test-event",
        csrf_token=browser.csrf(f"/connections/{connection.id}"),
        event_type="post.published",
        post_id="crm-console-1",
        ghl_post_id=post.id,
    )
    browser.http.close()

    assert answer.status_code == 200, answer.text
    assert "Test event: 202 queued" in answer.text
    (recorded,) = bridge.store.list_events(connection_id=connection.id)
    assert recorded.id in answer.text
    event = bridge.wait_for(recorded.id)
    assert event.status == "done", event.last_error
    record = bridge.crm_get(connection, "posts/crm-console-1")
    assert record["ghl_post_id"] == post.id
    assert [t["id"] for t in record["post_tags"]] == list(post.tag_ids)
