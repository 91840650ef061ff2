"""What `make run` prints once everything answers: where to look, and what to try."""

from __future__ import annotations

from cli.dev.console_admin import admin_lines
from cli.dev.demo_connections import (
    DEMO_IXACT_NAME,
    DEMO_IXACT_SENDER,
    DEMO_LOCATION_ID,
    DEMO_SMARTOFFICE_NAME,
    TRY_OAUTH_NAME,
    DemoConnection,
    demo_crm_url,
    demo_ixact_smtp_url,
    demo_smartoffice_url,
)
from cli.dev.demo_oauth import DEMO_OAUTH_NAME, DemoOAuth
from cli.dev.places import HOST, DevPorts
from console.accounts import FirstAdmin
from crm.ixact.settings import NOTES_ADDRESS

FLOWER_USER = "admin"
DEMO_EVENT_TYPES = ("post.published", "tag.details_requested", "statistics.requested")


def build_banner(
    *,
    ports: DevPorts,
    redis_url: str,
    database_url: str,
    flower_password: str,
    connection: DemoConnection,
    smartoffice: DemoConnection,
    ixact: DemoConnection,
    oauth: DemoOAuth,
    socialbridge_command: str,
    try_oauth_secret: str,
    console_admin: FirstAdmin | None = None,
) -> str:
    """What `make run` prints once everything answers: where to look, and what to try."""
    installed = "installed at this start" if oauth.installed else "not installed: see the note"
    show_oauth = f"{socialbridge_command} connections show {DEMO_OAUTH_NAME}"
    add_oauth = (
        f"{socialbridge_command} connections add --name {TRY_OAUTH_NAME} --auth oauth "
        f"--location-id {DEMO_LOCATION_ID} \\\n"
        f"        --crm-url {demo_crm_url(ports.crm_url, TRY_OAUTH_NAME)} "
        f"--crm-secret {try_oauth_secret}"
    )
    sends = "\n".join(f"    {socialbridge_command} demo send {kind}" for kind in DEMO_EVENT_TYPES)
    rule = "=" * 72
    text = f"""
{rule}
socialbridge is running.

{admin_lines(ports.web_url, console_admin, socialbridge_command)}
  Web health        {ports.web_url}/healthz
  Sandbox CRM page  {ports.crm_url}/
  SmartOffice page  {ports.smartoffice_url}/   (the SmartOffice sandbox)
  Mail sandbox      {ports.mail_url}/   (SMTP {HOST}:{ports.smtp}; JSON at /messages)
  Sandbox GHL       {ports.ghl_url}/
  Flower            {ports.flower_url}/   user {FLOWER_USER}, password {flower_password}
  Redis             {redis_url}
  Database          {database_url}

  Demo connection   {connection.id} (location {DEMO_LOCATION_ID})
  Its webhook URL   {_webhook_url(ports, connection)}   signed (Standard Webhooks)
  Its write-backs   {connection.crm_url}

  {DEMO_SMARTOFFICE_NAME:<16}  {smartoffice.id} (location {DEMO_LOCATION_ID}, SmartOffice CRM)
  Its webhook URL   {_webhook_url(ports, smartoffice)}   Bearer token
  Its write-backs   SmartPads through {smartoffice.crm_url}

  {DEMO_IXACT_NAME:<16}  {ixact.id} (location {DEMO_LOCATION_ID}, IXACT Contact CRM)
  Its webhook URL   {_webhook_url(ports, ixact)}   Bearer token
  Its write-backs   emails through {ixact.crm_url} (kept by the mail sandbox),
                    From {DEMO_IXACT_SENDER}, To the contact, sent to {NOTES_ADDRESS} only

  {DEMO_OAUTH_NAME:<16}  {oauth.connection.id} (location {DEMO_LOCATION_ID}, GHL by OAuth)
  Its webhook URL   {_webhook_url(ports, oauth.connection)}   signed (Standard Webhooks)
  Its write-backs   {oauth.connection.crm_url}
  Its install URL   {oauth.install_url}   ({installed})

Next steps, in another terminal:
{sends}
  then open the sandbox CRM page, {ports.crm_url}/, to see what was written back.
    {socialbridge_command} demo send post.published --connection {DEMO_SMARTOFFICE_NAME}
  then open the SmartOffice sandbox page, {ports.smartoffice_url}/, to see its SmartPad.
    {socialbridge_command} demo send post.published --connection {DEMO_IXACT_NAME}
  then open the mail sandbox page, {ports.mail_url}/, to see the email IXACT would file.
    {socialbridge_command} demo send post.published --connection {DEMO_OAUTH_NAME}
  the same flow with GHL's OAuth tokens (see: {show_oauth}).
  To install one yourself, with the sandbox GHL's marketplace app:
    {add_oauth}
  then open the install URL it prints: on the sandbox's page, approve {DEMO_LOCATION_ID}.

Ctrl-C stops everything.
{rule}"""
    for note in _banner_notes(ports, connection, smartoffice, ixact, oauth):
        text += f"\nNote: {note}"
    return text


def _webhook_url(ports: DevPorts, connection: DemoConnection) -> str:
    return f"{ports.web_url}/webhooks/crm/{connection.id}"


def _banner_notes(
    ports: DevPorts,
    connection: DemoConnection,
    smartoffice: DemoConnection,
    ixact: DemoConnection,
    oauth: DemoOAuth,
) -> list[str]:
    notes = [
        *connection.drift(demo_crm_url(ports.crm_url), "this run's sandbox CRM"),
        *smartoffice.drift(
            demo_smartoffice_url(ports.smartoffice_url), "this run's SmartOffice sandbox"
        ),
        *ixact.drift(demo_ixact_smtp_url(ports.smtp), "this run's sandbox mail server"),
        *oauth.connection.drift(
            demo_crm_url(ports.crm_url, DEMO_OAUTH_NAME), "this run's sandbox CRM"
        ),
    ]
    if oauth.problem is not None:
        notes.append(
            f"{DEMO_OAUTH_NAME} was not installed at this start: {oauth.problem}. Open its "
            f"install URL to try again; until then its events wait."
        )
    return notes
