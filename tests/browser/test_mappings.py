"""The mappings page in Chromium: a mapping with an error shown at its line, fixed and saved,
a pasted body previewed, an earlier version rolled back to; no error in the browser.

This console's GHL is the sandbox's, in process (`httpx.WSGITransport`): a preview reads GHL
as a real event's flow does. Screenshots of the page go to docs/screenshots/ with
`make screenshots`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from store import UserRole
from tests.browser.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    SECRET_KEY,
    Console,
    ConsoleErrors,
    Screenshots,
    empty,
    serve_console,
)
from tests.dbutil import temporary_database
from webapp import create_app
from workers.services import Services

# A Redis database of its own, apart from the other browser tests' (13) and the unit tests'.
MAPPINGS_REDIS_DB = 12

# Line 6 names a field no event has.
INVALID = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  fields:
    post_id: {path: $.post.id, required: true}
    ghl_post_idd: $.post.ghl_id
    record.contact_id: $.contact.id
"""
VALID = INVALID.replace("ghl_post_idd", "ghl_post_id")
BODY = (
    '{"action": "published", "post": {"id": "crm-post-1", "ghl_id": "post_demo_1"},\n'
    ' "contact": {"id": "C.1.31"}}'
)


@pytest.fixture(scope="module")
def mapping_console(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{MAPPINGS_REDIS_DB}"
    folder = tmp_path_factory.mktemp("browser-mappings")
    with temporary_database("sqlite", folder, upgrade=True) as (database_url, _):
        settings = Settings.from_mapping(
            {
                "database_url": database_url,
                "redis_url": redis_url,
                "secret_key": SECRET_KEY,
                "session_cookie_secure": False,
                "log_level": "WARNING",
                "ghl_base_url": "http://ghl.sandbox",
                "tag_cache_ttl": 0,
            }
        )
        ghl = httpx.WSGITransport(app=create_sandbox_ghl_app(rate_limit=10_000))
        app = create_app(settings, services=Services(settings, ghl_transport=ghl))
        with serve_console(app, database_url, redis_url) as console:
            yield console


@pytest.fixture
def console(mapping_console: Console) -> Console:
    empty(mapping_console)
    mapping_console.store.add_user(ADMIN_EMAIL, PASSWORD, UserRole.ADMIN)
    return mapping_console


def test_edit_see_the_error_at_its_line_fix_save_preview_and_roll_back(
    page: Page, console: Console, errors: ConsoleErrors, screenshots: Screenshots
) -> None:
    connection = console.store.create_connection(
        name="acme-so",
        location_id=DEFAULT_LOCATION,
        ghl_token=DEFAULT_TOKEN,
        crm_url="http://crm.example/hooks/acme",
        inbound_auth="token",
    )
    console.sign_in(page, ADMIN_EMAIL)
    page.click("nav >> text=Mappings")
    page.click("text=acme-so")
    expect(page.locator("h1")).to_have_text("Mapping of acme-so")

    # An error: listed with its line, and that line marked in the listing.
    page.fill("#mapping", INVALID)
    page.click("#check")
    expect(page.locator("#problems li")).to_have_count(1)
    expect(page.locator("#problems li")).to_contain_text("line 6: inbound.fields.ghl_post_idd")
    expect(page.locator("#line-6")).to_have_class("bad")
    expect(page.locator("#line-6")).to_have_css("background-color", "rgb(253, 232, 232)")
    page.click("#problems a")
    assert page.url.endswith("#line-6")
    screenshots.take(page, "mappings-problems")
    # Saving it is refused, and nothing is kept.
    page.click("#save")
    expect(page.locator("#problems-title")).to_have_text("1 problem: not saved")
    assert console.store.list_mapping_versions(connection.id) == []

    # Fixed and saved: version 1.
    page.fill("#mapping", VALID)
    page.click("#save")
    expect(page.locator(".notice:not(#valid)")).to_have_text(
        "Saved the mapping of acme-so as version 1."
    )
    assert page.input_value("#mapping") == VALID

    # A preview of a pasted body: the event, and the request the connector would send.
    page.fill("#body", BODY)
    page.click("#preview")
    expect(page.locator("#preview-event")).to_contain_text('"post_id": "crm-post-1"')
    expect(page.locator("#preview-result")).to_contain_text("Write 1: post.tags_synced")
    expect(page.locator("#preview-note")).to_have_text(
        "GHL was read; nothing was stored and nothing was sent to the CRM"
    )
    screenshots.take(page, "mappings-preview")

    # A second version, then back to the first: version 3, equal to 1.
    page.fill("#mapping", VALID.replace("$.contact.id", "$.contact.ref"))
    page.click("#save")
    expect(page.locator(".notice:not(#valid)")).to_have_text(
        "Saved the mapping of acme-so as version 2."
    )
    page.click("button[aria-label='Roll back to version 1']")
    expect(page.locator(".notice:not(#valid)")).to_have_text(
        "Rolled back: version 3 is version 1 again."
    )
    assert page.input_value("#mapping") == VALID
    expect(page.locator("#versions tr")).to_have_count(4)  # the header and three versions

    # Chromium logs a page answered with 400 as an error: the refused save above, on purpose.
    # Nothing else may be there (a script or style the CSP refused, a missing file...).
    refused_save = (
        f"status of 400 (BAD REQUEST) at {{'url': '{console.url}/mappings/{connection.id}'"
    )
    assert [message for message in errors.messages if refused_save not in message] == []
    assert len(errors.messages) == 1
