"""`python -m sandbox`: the command line that `make run` and the fault runs start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.__main__ import parse_args


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
