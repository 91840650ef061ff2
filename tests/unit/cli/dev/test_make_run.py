"""`make run` as a developer uses it: `socialbridge dev` in an empty project folder, then, from
another process, `socialbridge demo send post.published --connection demo-smartoffice` until
its SmartPad is in the SmartOffice sandbox, and `... --connection demo-ixact` until its email
is on the sandbox mail server.

Every process is real (embedded Redis, gunicorn, Celery worker and beat, Flower, the four
sandboxes), so this is a functional test. The waits are deadlines for a slow machine, never
sleeps that a fast one relies on.

Beat runs too, so each demo connection's scheduled statistics sync may write at any moment
(it is due as soon as beat first sees the connection): what a send wrote is found by its
event id, never by being the only write there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil
import pytest

from cli.dev.demo_connections import DEMO_IXACT_SENDER
from cli.dev.demo_oauth import install_demo_oauth
from cli.dev.run import console_script
from console.demo import DEMO_IXACT_CONTACT_EMAIL
from crm.ixact.settings import NOTES_ADDRESS
from ghl.endpoints import OAUTH_SCOPES
from sandbox.mail.state import STATE_FILE_NAME as MAIL_STATE_FILE_NAME
from sandbox.smartoffice.state import DEMO_CONTACT_ID, STATE_FILE_NAME
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port

pytestmark = pytest.mark.functional

START_DEADLINE = 180.0
STOP_DEADLINE = 60.0
BANNER_END = "Ctrl-C stops everything."
# The settings a developer's shell might export: the CLI would prefer them to make run's file.
SETTING_NAMES = {field.name.upper() for field in dataclasses.fields(Settings)}


@dataclass
class DevRun:
    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    seen: list[str]
    smartoffice_url: str
    mail_url: str

    def wait_for_line(self, wanted: str) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while wanted not in self.seen:
            if self.process.poll() is not None and self.lines.empty():
                pytest.fail(f"socialbridge dev exited ({self.process.returncode}):\n{self.output}")
            try:
                self.seen.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no {wanted!r} within {START_DEADLINE:g} s:\n{self.output}")

    @property
    def output(self) -> str:
        return "\n".join(self.seen)


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}


def pump(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


@pytest.fixture
def dev_run(tmp_path: Path) -> Iterator[DevRun]:
    ports = {
        name: free_port() for name in ("web", "ghl", "crm", "smartoffice", "flower", "mail", "smtp")
    }
    argv = [console_script("socialbridge"), "dev"]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    process = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=pump, args=(process.stdout, lines), daemon=True)
    reader.start()
    run = DevRun(
        process,
        lines,
        [],
        smartoffice_url=f"http://127.0.0.1:{ports['smartoffice']}",
        mail_url=f"http://127.0.0.1:{ports['mail']}",
    )
    try:
        yield run
    finally:
        # Its children run in sessions of their own: note them now, so that none outlives
        # the test even if `socialbridge dev` could not stop them.
        children = _children(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_DEADLINE)
        finally:
            for child in children:
                if child.is_running():
                    child.kill()
            if process.poll() is None:
                process.kill()
            reader.join(timeout=STOP_DEADLINE)
            process.stdout.close()
    assert process.returncode == 0, run.output


def _children(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return children


def socialbridge(args: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    """``socialbridge ARGS`` as from another terminal in the project folder."""
    return subprocess.run(
        [console_script("socialbridge"), *args],
        cwd=project,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def demo_send(send_line: str, project: Path, run: DevRun) -> str:
    """Run ``socialbridge <send_line>`` as from another terminal in the project folder (the
    CLI reads var/socialbridge.env); the id of the event it followed until done."""
    sent = subprocess.run(
        [console_script("socialbridge"), *send_line.split(), "--timeout", "120"],
        cwd=project,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr + run.output
    last = sent.stdout.splitlines()[-1]
    assert last.startswith("done after 1 attempt. See "), sent.stdout
    return last.rsplit(" ", 1)[-1]


def test_make_run_serves_its_token_demo_connections_from_the_banner_to_their_sandboxes(
    dev_run: DevRun, tmp_path: Path
) -> None:
    dev_run.wait_for_line(BANNER_END)

    banner = dev_run.seen
    assert f"  SmartOffice page  {dev_run.smartoffice_url}/   (the SmartOffice sandbox)" in banner
    assert any(line.startswith("  demo-smartoffice  con_") for line in banner)
    smartoffice_send = "demo send post.published --connection demo-smartoffice"
    assert any(line.endswith(smartoffice_send) for line in banner)
    mail_line = f"  Mail sandbox      {dev_run.mail_url}/   (SMTP "
    assert any(line.startswith(mail_line) for line in banner)
    assert any(line.startswith("  demo-ixact        con_") for line in banner)
    ixact_send = "demo send post.published --connection demo-ixact"
    assert any(line.endswith(ixact_send) for line in banner)
    assert httpx.get(f"{dev_run.smartoffice_url}/").is_success
    assert httpx.get(f"{dev_run.mail_url}/").is_success
    sign_in_with_the_banners_password(banner)

    smartoffice_event = demo_send(smartoffice_send, tmp_path, dev_run)
    ixact_event = demo_send(ixact_send, tmp_path, dev_run)

    pads = httpx.get(f"{dev_run.smartoffice_url}/_sandbox/smartpads").json()
    [pad] = [pad for pad in pads if f"socialbridge-id: {smartoffice_event}." in pad["Note"]]
    assert pad["ContactID"] == DEMO_CONTACT_ID
    assert pad["Note"].startswith("Social post crm-post-1 is live as GHL post post_demo_1.")

    messages = httpx.get(f"{dev_run.mail_url}/messages").json()
    [email] = [m for m in messages if f"socialbridge-id: {ixact_event}." in m["text"]]
    assert email["from"] == DEMO_IXACT_SENDER
    assert email["to"] == DEMO_IXACT_CONTACT_EMAIL
    assert email["envelope_to"] == [NOTES_ADDRESS]
    assert email["subject"] == 'GHL tags for "Open house this Saturday"'
    # Anything else there is demo-ixact's scheduled statistics, for the same contact.
    others = [m for m in messages if m is not email]
    assert all(m["subject"].startswith("GHL statistics ") for m in others), others
    assert all(m["to"] == DEMO_IXACT_CONTACT_EMAIL for m in others), others

    # Kept where a restart by the supervisor finds them again.
    assert (tmp_path / "var" / "sandbox-smartoffice" / STATE_FILE_NAME).is_file()
    assert (tmp_path / "var" / "sandbox-mail" / MAIL_STATE_FILE_NAME).is_file()


def sign_in_with_the_banners_password(banner: list[str]) -> None:
    """The first start's admin signs in to the console over plain HTTP with what the banner
    printed (the session cookie must come back without HTTPS)."""
    [console_line] = [line for line in banner if line.startswith("  Console  ")]
    web_url = console_line.split()[-1].rstrip("/")
    [sign_in_line] = [line for line in banner if line.startswith("  Sign in           as ")]
    found = re.fullmatch(r"  Sign in           as (\S+), password (\S+)", sign_in_line)
    assert found is not None, sign_in_line
    email, password = found.groups()
    with httpx.Client(base_url=web_url) as browser:
        form = browser.get("/signin").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        answer = browser.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 302, answer.text
        overview = browser.get("/")
        assert overview.status_code == 200
        assert f"{email} (admin)" in overview.text


def test_make_run_installs_demo_oauth_and_an_oauth_connection_added_from_another_terminal(
    dev_run: DevRun, tmp_path: Path
) -> None:
    dev_run.wait_for_line(BANNER_END)
    banner = dev_run.seen
    [install_line] = [line for line in banner if line.startswith("  Its install URL   ")]
    assert install_line.endswith("   (installed at this start)"), dev_run.output
    assert not any(line.startswith("Note:") for line in banner), dev_run.output

    demo_send("demo send post.published --connection demo-oauth", tmp_path, dev_run)

    # The banner's own command, then its install URL opened and approved as a person would.
    [at] = [i for i, line in enumerate(banner) if " connections add --name my-oauth " in line]
    add_command = (banner[at].removesuffix("\\") + banner[at + 1]).split()
    added = socialbridge([*add_command[1:], "--json"], tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr
    install_url = json.loads(added.stdout)["install_url"]
    with httpx.Client(timeout=30) as http:
        install_demo_oauth(http, install_url)
    shown = socialbridge(["connections", "show", "my-oauth", "--json"], tmp_path)
    checked = socialbridge(["connections", "check", "demo-oauth"], tmp_path)

    assert shown.returncode == 0, shown.stderr
    connection = json.loads(shown.stdout)
    assert (connection["auth"], connection["status"], connection["location_id"]) == (
        "oauth",
        "active",
        "loc_demo",
    )
    assert connection["scopes"] == list(OAUTH_SCOPES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "GHL  ok scopes: every scope the flows need" in checked.stdout.splitlines()
    # The connection the banner invites one to add writes back to the sandbox CRM too.
    demo_send("demo send post.published --connection my-oauth", tmp_path, dev_run)
