"""A sandbox mail server: a real SMTP server on loopback that keeps every message it takes
and shows them over HTTP, for IXACT Contact's email capture.

    with MailSandbox() as mail:                  # from sandbox.mail.server
        smtplib.SMTP("127.0.0.1", mail.smtp_port).send_message(...)
        httpx.get(f"{mail.http_url}/messages")
"""

from sandbox.mail.server import MailSandbox
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER

__all__ = ["DEMO_SMTP_PASSWORD", "DEMO_SMTP_USER", "MailSandbox"]
