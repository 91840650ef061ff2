"""With a data folder, the messages survive a restart; passwords never reach the disk."""

from __future__ import annotations

import os
import smtplib
import stat
from pathlib import Path

from sandbox.mail.server import MailSandbox
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER, STATE_FILE_NAME, MailState
from tests.unit.sandbox.mail.conftest import NOTES, new_message


def send(mail: MailSandbox, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=10) as client:
        client.login(DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
        client.send_message(new_message(subject), to_addrs=[NOTES])


def test_messages_survive_a_restart_and_numbers_go_on(tmp_path: Path) -> None:
    with MailSandbox(data_dir=tmp_path) as first:
        send(first, "one")
        send(first, "two")
        before = first.messages()

    with MailSandbox(data_dir=tmp_path) as second:
        after_restart = second.messages()
        send(second, "three")
        numbers = [(m["id"], m["subject"]) for m in second.messages()]

    assert after_restart == before
    assert numbers == [(1, "one"), (2, "two"), (3, "three")]


def test_the_file_is_private_and_holds_no_password(tmp_path: Path) -> None:
    with MailSandbox(data_dir=tmp_path) as mail:
        send(mail, "one")

    path = tmp_path / STATE_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert DEMO_SMTP_PASSWORD.encode() not in path.read_bytes()
    assert b'"auth_user":"agent@example.com"' in path.read_bytes()


def test_deleted_messages_stay_deleted_and_their_numbers_unused(tmp_path: Path) -> None:
    with MailSandbox(data_dir=tmp_path) as first:
        send(first, "one")
        send(first, "two")
        assert first.state.delete_messages() == 2

    with MailSandbox(data_dir=tmp_path) as second:
        assert second.messages() == []
        send(second, "three")

        assert [m["id"] for m in second.messages()] == [3]


def test_a_message_cut_short_by_a_kill_is_dropped(tmp_path: Path) -> None:
    with MailSandbox(data_dir=tmp_path) as first:
        send(first, "whole")
    with (tmp_path / STATE_FILE_NAME).open("ab") as file:
        file.write(b'{"kind":"message","message":{"id":2,')

    assert [m["subject"] for m in MailState(tmp_path).messages()] == ["whole"]
