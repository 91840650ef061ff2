"""ServerThread: a WSGI app on real local HTTP, in a background thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx
import pytest

from sandbox.ghl import API_VERSION, DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from sandbox.server import ServerThread

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def hello_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ['PATH_INFO']}".encode()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_it_serves_the_app_over_http_on_a_port_chosen_by_the_system() -> None:
    with ServerThread(hello_app) as server:
        url = server.url
        answer = httpx.get(f"{url}/there")

    assert url.startswith("http://127.0.0.1:")
    assert url == f"http://127.0.0.1:{int(url.rsplit(':', 1)[1])}"
    assert answer.status_code == 200
    assert answer.text == "hello /there"


def test_it_serves_the_sandbox_ghl_over_http() -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Version": API_VERSION}

    with ServerThread(create_sandbox_ghl_app()) as server, httpx.Client() as http:
        tags = http.get(
            f"{server.url}/social-media-posting/{DEFAULT_LOCATION}/tags",
            params={"limit": "100", "skip": "200"},
            headers=headers,
        )
        journal = http.get(f"{server.url}/_sandbox/journal")

    assert tags.status_code == 200
    assert len(tags.json()["results"]["tags"]) == 50
    assert tags.headers["X-RateLimit-Remaining"] == "99"
    assert [entry["query"] for entry in journal.json()] == [{"limit": "100", "skip": "200"}]


def test_it_listens_on_the_port_it_is_given() -> None:
    port = free_port()

    with ServerThread(hello_app, port=port) as server:
        bound = server.port
        answer = httpx.get(f"http://127.0.0.1:{port}/")

    assert bound == port
    assert answer.text == "hello /"


def test_it_answers_requests_concurrently() -> None:
    both_inside = threading.Barrier(2, timeout=5)

    def waiting_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Each request waits for the other one: a server handling one at a time would hang.
        both_inside.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    with ServerThread(waiting_app) as server:
        answers: list[int] = []
        clients = [
            threading.Thread(target=lambda: answers.append(httpx.get(server.url).status_code))
            for _ in range(2)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(10)

    assert answers == [200, 200]


def test_after_stop_nothing_listens_and_stop_can_be_repeated() -> None:
    server = ServerThread(hello_app).start()
    url = server.url

    server.stop()
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    assert repr(server) == "<ServerThread stopped>"


def test_the_url_is_known_only_while_running() -> None:
    server = ServerThread(hello_app)

    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_it_cannot_be_started_twice() -> None:
    with ServerThread(hello_app) as server, pytest.raises(RuntimeError, match="already"):
        server.start()


def test_a_port_in_use_is_an_os_error() -> None:
    with ServerThread(hello_app) as taken:
        clash = ServerThread(hello_app, port=taken.port)

        with pytest.raises(OSError, match="cannot listen"):
            clash.start()
