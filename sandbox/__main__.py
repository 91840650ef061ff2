"""Serve a sandbox over HTTP until SIGTERM or Ctrl-C.

    python -m sandbox ghl --port 8010 [--host 127.0.0.1] [--access-token-seconds N]
                          [--latency-ms N]
    python -m sandbox crm --port 8020 [--host 127.0.0.1] [--data-dir DIR] [--latency-ms N]
    python -m sandbox smartoffice --port 8030 [--host 127.0.0.1] [--data-dir DIR]
    python -m sandbox mail --port 8040 --smtp-port 2525 [--host 127.0.0.1] [--data-dir DIR]
                           [--tls-cert FILE --tls-key FILE]

`make run` starts the GHL and CRM sandboxes as child processes; one line on stdout gives
the URL once listening. The SmartOffice XML Engine answers at ``/xml``. The mail sandbox
(`sandbox.mail`) is an SMTP server with HTTP pages: its first line gives the pages' URL like
the others', a second one the SMTP address (``sandbox mail smtp listening on HOST:PORT``);
with ``--tls-cert`` and ``--tls-key`` it offers STARTTLS, and requires it before AUTH and MAIL.
The GHL sandbox's OAuth access tokens live ``--access-token-seconds`` (default a day, as GHL's
do): a short lifetime shows expiry and refresh within minutes. ``--latency-ms N`` (ghl and crm)
sends every answer of the sandbox's API N ms late, as a distant server would (benchmarks);
``/_sandbox/latency`` shows and changes it at run time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from flask import Flask
from werkzeug.serving import make_server


def _ghl_app(args: argparse.Namespace) -> Flask:
    from sandbox.ghl.app import create_sandbox_ghl_app

    latency_ms = args.latency_ms or 0
    if args.access_token_seconds is None:
        return create_sandbox_ghl_app(latency_ms=latency_ms)
    return create_sandbox_ghl_app(
        access_token_seconds=args.access_token_seconds, latency_ms=latency_ms
    )


def _crm_app(args: argparse.Namespace) -> Flask:
    from sandbox.crm.app import create_sandbox_crm_app

    return create_sandbox_crm_app(data_dir=args.data_dir, latency_ms=args.latency_ms or 0)


def _smartoffice_app(args: argparse.Namespace) -> Flask:
    from sandbox.smartoffice.app import create_sandbox_smartoffice_app

    return create_sandbox_smartoffice_app(data_dir=args.data_dir)


# Imported on demand: the CRM sandbox should not pay for loading the GHL OpenAPI files.
APPS: dict[str, Callable[[argparse.Namespace], Flask]] = {
    "ghl": _ghl_app,
    "crm": _crm_app,
    "smartoffice": _smartoffice_app,
}
# The mail sandbox is two servers (SMTP and HTTP) started together: `_serve_mail`.
MAIL = "mail"
# The sandboxes that can keep what they hold in a data folder.
KEEPS_DATA = ("crm", "smartoffice", MAIL)
# The sandboxes whose answers can be delayed (`--latency-ms`).
TAKES_LATENCY = ("ghl", "crm")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: which sandbox, and where it listens."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Serve a sandbox over HTTP until SIGTERM or Ctrl-C."
    )
    parser.add_argument("which", choices=sorted([*APPS, MAIL]), help="the sandbox to serve")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="crm, smartoffice and mail only: keep what they store in this folder, across "
        "restarts (crm: accounts, records and the webhook-ids seen; smartoffice: objects and "
        "added accounts; mail: the messages; default: in memory)",
    )
    parser.add_argument(
        "--access-token-seconds",
        type=float,
        default=None,
        metavar="N",
        help="ghl only: how long its OAuth access tokens live, in seconds (default 86400)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=None,
        metavar="N",
        help="ghl and crm only: send every answer of the sandbox's API N ms late (default 0; "
        "changeable at /_sandbox/latency)",
    )
    parser.add_argument(
        "--smtp-port", type=int, default=None, help="mail only (required): the SMTP port"
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        help="mail only: a PEM certificate (chain) for STARTTLS, with --tls-key",
    )
    parser.add_argument(
        "--tls-key", type=Path, default=None, help="mail only: the PEM key of --tls-cert"
    )
    args = parser.parse_args(argv)
    if args.data_dir is not None and args.which not in KEEPS_DATA:
        parser.error("--data-dir: only the crm sandbox keeps data (and smartoffice, mail)")
    _check_ghl_options(parser, args)
    _check_latency(parser, args)
    _check_mail_options(parser, args)
    return args


def _check_latency(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.latency_ms is None:
        return
    if args.which not in TAKES_LATENCY:
        parser.error("--latency-ms: only the ghl and crm sandboxes take it")
    from sandbox.latency import LatencyError, check_latency_ms

    try:
        check_latency_ms(args.latency_ms)
    except LatencyError as error:
        parser.error(f"--{error}".replace("latency_ms", "latency-ms"))


def _check_ghl_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    seconds = args.access_token_seconds
    if seconds is None:
        return
    if args.which != "ghl":
        parser.error("--access-token-seconds: only the ghl sandbox takes it")
    # NaN and infinity parse as floats too; neither is a lifetime.
    if not 0 <= seconds < float("inf"):
        parser.error(f"--access-token-seconds: expected 0 or more seconds, got {seconds:g}")


def _check_mail_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    mail_only = {
        "--smtp-port": args.smtp_port,
        "--tls-cert": args.tls_cert,
        "--tls-key": args.tls_key,
    }
    if args.which != MAIL:
        for option, value in mail_only.items():
            if value is not None:
                parser.error(f"{option}: only the mail sandbox takes it")
        return
    if args.smtp_port is None:
        parser.error("the mail sandbox needs --smtp-port")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    from sandbox.mail.server import is_loopback

    if args.tls_cert is None and not is_loopback(args.host):
        # Without TLS it takes AUTH passwords in the clear: fine on loopback only.
        parser.error(f"--host {args.host}: without --tls-cert the mail sandbox binds loopback only")


def _serve_mail(args: argparse.Namespace) -> int:
    """Serve the mail sandbox's SMTP and HTTP servers until SIGTERM or SIGINT; return 0."""
    from sandbox.mail.server import MailSandbox, server_tls_context

    tls = None if args.tls_cert is None else server_tls_context(args.tls_cert, args.tls_key)
    mail = MailSandbox(
        args.host, args.smtp_port, args.port, tls_context=tls, data_dir=args.data_dir
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        mail.start()
    except OSError as exc:
        print(f"sandbox mail: cannot listen: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"sandbox mail listening on {mail.http_url}/", flush=True)
        host = f"[{mail.host}]" if ":" in mail.host else mail.host
        print(f"sandbox mail smtp listening on {host}:{mail.smtp_port}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        mail.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the chosen sandbox (threaded werkzeug) until SIGTERM or SIGINT; return 0."""
    args = parse_args(argv)
    if args.which == MAIL:
        return _serve_mail(args)
    app = APPS[args.which](args)
    server = make_server(args.host, args.port, app, threaded=True)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # serve_forever runs in a thread so that the main thread, where signals land, can call
    # shutdown(), which blocks until the serving loop has returned.
    serving = threading.Thread(target=server.serve_forever, name=f"sandbox-{args.which}")
    serving.start()
    print(f"sandbox {args.which} listening on http://{args.host}:{server.port}/", flush=True)
    while not stopping.wait(0.5):
        if not serving.is_alive():
            return 1
    server.shutdown()
    serving.join()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
