"""The web process's gunicorn settings, as the Procfile's web line and `make run` load them.

That the settings work (threaded workers answering over kept-alive connections) is shown
against the real server in tests/functional/test_receiver.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gunicorn.config import Config

import webapp.gunicorn_conf as conf
from bench.procfile import ProcfileError, procfile_argv
from cli.dev.places import DevPorts
from cli.dev.run import WEB_CONFIG, app_commands


def test_the_procfile_web_line_loads_the_settings_and_binds_port() -> None:
    argv = procfile_argv("web", {"PORT": "8123"})

    assert Path(argv[0]).name == "gunicorn"
    assert argv[1:] == [
        "--config", "python:webapp.gunicorn_conf", "--bind", "0.0.0.0:8123",
        "webapp:create_app()",
    ]  # fmt: skip


def test_make_run_loads_the_same_settings() -> None:
    web = app_commands(DevPorts(web=8100))["web"]

    assert web[web.index("--config") + 1] == WEB_CONFIG == "python:webapp.gunicorn_conf"


def test_gunicorn_takes_every_setting_of_the_file() -> None:
    config = Config()
    names = [name for name in vars(conf) if not name.startswith("_")]
    for name in names:
        config.set(name, getattr(conf, name))  # gunicorn's own validation

    assert set(names) == {
        "workers",
        "worker_class",
        "threads",
        "keepalive",
        "control_socket_disable",
    }
    assert config.worker_class_str == "gthread"
    assert config.workers >= 2
    assert config.threads >= 2
    # Longer than gunicorn's 2 s, shorter than a load balancer's usual 60 s idle timeout.
    assert 2 < config.keepalive < 60


def test_procfile_lines_expand_like_a_shell(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "# a comment: not a process\n"
        "web: gunicorn --bind 0.0.0.0:$PORT 'webapp:create_app()'\n"
        "flower: socialbridge flower --port ${FLOWER_PORT:-5555} --x ${EMPTY:-d}\n"
    )

    web = procfile_argv("web", {"PORT": "1"}, path=procfile, swap={"webapp:create_app()": "a:b()"})
    flower = procfile_argv("flower", {"EMPTY": ""}, path=procfile)

    assert web[1:] == ["--bind", "0.0.0.0:1", "a:b()"]
    assert flower[1:] == ["flower", "--port", "5555", "--x", "d"]
    with pytest.raises(ProcfileError, match=r"\$PORT is not set"):
        procfile_argv("web", {}, path=procfile)
    with pytest.raises(ProcfileError, match="no word 'nope'"):
        procfile_argv("web", {"PORT": "1"}, path=procfile, swap={"nope": "x"})
    with pytest.raises(ProcfileError, match="no 'beat' process"):
        procfile_argv("beat", {}, path=procfile)
