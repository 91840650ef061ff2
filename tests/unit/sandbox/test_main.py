"""`python -m sandbox`: the command line that `make run` and the fault runs start."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from sandbox.__main__ import APPS, parse_args
from tests.unit.sandbox.smartoffice.xmldocs import direct_header, document, el

REPO_ROOT = Path(__file__).resolve().parents[3]
GET_SYSTEM_TIME = document(direct_header(), el("method", el("GetSystemTime")))


def test_the_crm_takes_a_data_folder() -> None:
    args = parse_args(["crm", "--port", "8020", "--data-dir", "var/crm"])

    assert (args.which, args.port, args.data_dir) == ("crm", 8020, Path("var/crm"))


def test_without_a_data_folder_the_crm_keeps_memory_only() -> None:
    assert parse_args(["crm", "--port", "8020"]).data_dir is None


def test_the_ghl_sandbox_refuses_a_data_folder(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["ghl", "--port", "8010", "--data-dir", "x"])

    assert exited.value.code == 2
    assert "--data-dir: only the crm sandbox keeps data" in capsys.readouterr().err


def test_the_smartoffice_sandbox_takes_a_data_folder() -> None:
    args = parse_args(["smartoffice", "--port", "8030", "--data-dir", "var/smartoffice"])

    assert (args.which, args.port, args.data_dir) == (
        "smartoffice",
        8030,
        Path("var/smartoffice"),
    )
    assert parse_args(["smartoffice", "--port", "8030"]).data_dir is None


def test_the_smartoffice_sandbox_serves_the_xml_engine_until_terminated(tmp_path: Path) -> None:
    # Port 0: the system picks a free one, and the "listening on" line tells which.
    command = [sys.executable, "-m", "sandbox", "smartoffice", "--port", "0"]
    command += ["--data-dir", str(tmp_path)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung start fails the test, never the run
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.fullmatch(r"sandbox smartoffice listening on (http://127\.0\.0\.1:\d+)/\n", line)
        assert found, line
        answer = httpx.post(
            f"{found.group(1)}/xml",
            content=GET_SYSTEM_TIME,
            headers={"Content-Type": "text/xml"},
            timeout=10,
        )
    finally:
        process.terminate()
        process.communicate(timeout=30)
        watchdog.cancel()

    assert answer.status_code == 200
    assert re.search(
        rb"<GetSystemTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d</GetSystemTime>", answer.content
    )
    assert b"<_status>OK</_status>" in answer.content
    assert process.returncode == 0


def test_the_mail_sandbox_needs_an_smtp_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["mail", "--port", "8040"])

    assert exited.value.code == 2
    assert "the mail sandbox needs --smtp-port" in capsys.readouterr().err


def test_the_mail_sandbox_takes_its_ports_a_data_folder_and_a_certificate() -> None:
    tls = ["--tls-cert", "c.pem", "--tls-key", "k.pem"]
    args = parse_args(
        ["mail", "--port", "8040", "--smtp-port", "2525", "--data-dir", "var/mail", *tls]
    )

    assert (args.which, args.port, args.smtp_port, args.data_dir) == (
        "mail",
        8040,
        2525,
        Path("var/mail"),
    )
    assert (args.tls_cert, args.tls_key) == (Path("c.pem"), Path("k.pem"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["crm", "--port", "8020", "--smtp-port", "2525"], "--smtp-port: only the mail sandbox"),
        (["ghl", "--port", "8010", "--tls-key", "k.pem"], "--tls-key: only the mail sandbox"),
        (
            ["mail", "--port", "8040", "--smtp-port", "2525", "--tls-cert", "c.pem"],
            "--tls-cert and --tls-key go together",
        ),
        (
            ["mail", "--port", "8040", "--smtp-port", "2525", "--host", "0.0.0.0"],
            "without --tls-cert the mail sandbox binds loopback only",
        ),
    ],
)
def test_mail_options_are_checked(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_mail_sandbox_serves_smtp_and_http_until_terminated(tmp_path: Path) -> None:
    # Port 0 for both: the system picks free ones, and the two "listening on" lines tell which.
    command = [sys.executable, "-m", "sandbox", "mail", "--port", "0", "--smtp-port", "0"]
    command += ["--data-dir", str(tmp_path)]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung start fails the test, never the run
    watchdog.start()
    try:
        assert process.stdout is not None
        http_line, smtp_line = process.stdout.readline(), process.stdout.readline()
        http = re.fullmatch(r"sandbox mail listening on (http://127\.0\.0\.1:\d+)/\n", http_line)
        smtp = re.fullmatch(r"sandbox mail smtp listening on 127\.0\.0\.1:(\d+)\n", smtp_line)
        assert http, http_line
        assert smtp, smtp_line
        with smtplib.SMTP("127.0.0.1", int(smtp.group(1)), timeout=10) as client:
            noop = client.noop()
            client.sendmail(
                "agent@example.com", ["notes@ixactcontact.com"], b"Subject: hi\r\n\r\nx"
            )
        messages = httpx.get(f"{http.group(1)}/messages", timeout=10)
    finally:
        process.terminate()
        process.communicate(timeout=30)
        watchdog.cancel()

    assert noop[0] == 250
    assert messages.status_code == 200
    assert [(m["subject"], m["envelope_to"]) for m in messages.json()] == [
        ("hi", ["notes@ixactcontact.com"])
    ]
    assert process.returncode == 0
    assert (tmp_path / "sandbox-mail.jsonl").exists()


def test_the_ghl_sandbox_takes_an_access_token_lifetime() -> None:
    args = parse_args(["ghl", "--port", "8010", "--access-token-seconds", "30"])
    app = APPS["ghl"](args)

    assert args.access_token_seconds == 30
    assert app.extensions["sandbox_ghl"].oauth.access_token_seconds == 30
    default = APPS["ghl"](parse_args(["ghl", "--port", "8010"]))
    assert default.extensions["sandbox_ghl"].oauth.access_token_seconds == 86_400


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["crm", "--port", "1", "--access-token-seconds", "5"], "only the ghl sandbox takes it"),
        (["ghl", "--port", "1", "--access-token-seconds", "-1"], "expected 0 or more seconds"),
        (["ghl", "--port", "1", "--access-token-seconds", "nan"], "expected 0 or more seconds"),
        (["ghl", "--port", "1", "--access-token-seconds", "inf"], "expected 0 or more seconds"),
    ],
)
def test_an_access_token_lifetime_is_checked(
    capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)

    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
