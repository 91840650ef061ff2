"""HTTP/1.1 over a plain socket: requests byte for byte as written, answers as received.

httpx (rightly) refuses to send a NUL in a header, a Content-Length that lies, or a path that
is not ASCII; a fuzzer must send them. One request per connection (``Connection: close``),
the write side shut once sent, the answer read until the server closes or the time is up.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

CHUNK_SIZE = 16 * 1024


@dataclass(frozen=True)
class RawRequest:
    """One request. ``chunked`` sends the body in chunks instead of with a Content-Length;
    ``content_length`` (when not None) is sent as it is, whatever the body's real length."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes = b""
    chunked: bool = False
    content_length: bytes | None = None

    def encode(self, host: bytes) -> bytes:
        """The request on the wire."""
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: " + host]
        lines += [name + b": " + value for name, value in self.headers]
        lines.append(b"Connection: close")
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
        if self.content_length is not None:
            lines.append(b"Content-Length: " + self.content_length)
        elif not self.chunked and (self.body or self.method in (b"POST", b"PUT", b"PATCH")):
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if not self.chunked:
            return head + self.body
        chunks = [
            b"%x\r\n" % len(piece) + piece + b"\r\n"
            for piece in (
                self.body[i : i + CHUNK_SIZE] for i in range(0, len(self.body), CHUNK_SIZE)
            )
        ]
        return head + b"".join(chunks) + b"0\r\n\r\n"

    def describe(self, limit: int = 300) -> str:
        """The request for a report: line, headers and the start of the body."""
        head = [f"{self.method.decode('latin-1')} {_short(self.target, limit)}"]
        head += [f"{_short(n, limit)}: {_short(v, limit)}" for n, v in self.headers]
        if self.chunked:
            head.append("Transfer-Encoding: chunked")
        if self.content_length is not None:
            head.append(f"Content-Length: {_short(self.content_length, limit)}")
        head.append(f"body ({len(self.body)} bytes): {_short(self.body, limit)}")
        return "\n    ".join(head)


@dataclass(frozen=True)
class RawAnswer:
    """The status (None when none came back), the body's start, and what went wrong if so."""

    status: int | None
    body: bytes
    error: str | None = None


def exchange(host: str, port: int, request: RawRequest, *, timeout: float = 15.0) -> RawAnswer:
    """Send ``request`` to ``host:port`` and read the answer; never raises for network errors."""
    deadline = time.monotonic() + timeout
    received = bytearray()
    send_error: str | None = None
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:
                sock.sendall(request.encode(f"{host}:{port}".encode()))
                sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                # A server may answer (413, 400) and close before it has read everything;
                # its answer can still be waiting in our receive buffer.
                send_error = f"while sending: {exc!r}"
            while time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    piece = sock.recv(65536)
                except TimeoutError:
                    return _answer(received, f"no complete answer within {timeout:g} s")
                except OSError as exc:
                    return _answer(received, f"while reading: {exc!r}")
                if not piece:
                    break
                received += piece
    except OSError as exc:
        return RawAnswer(None, b"", f"cannot connect: {exc!r}")
    return _answer(received, send_error)


def _answer(received: bytearray, error: str | None) -> RawAnswer:
    status, body = _status_and_body(bytes(received))
    # "100 Continue" (to an Expect header) comes before the real answer.
    while status is not None and 100 <= status < 200 and body:
        status, body = _status_and_body(body)
    if status is not None:
        error = None  # an answer came: whatever went wrong sending did not stop the server
    elif error is None:
        error = "the server closed the connection without an answer"
    return RawAnswer(status, body[:2000], error)


def _status_and_body(data: bytes) -> tuple[int | None, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.partition(b"\r\n")[0].split(b" ", 2)
    status = None
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        status = int(parts[1])
    return status, body


def _short(value: bytes, limit: int) -> str:
    text = repr(value)[2:-1]
    return text if len(text) <= limit else f"{text[:limit]}… ({len(value)} bytes)"
