"""Which email addresses the IXACT connector will put in a header or an SMTP envelope.

Only plain ASCII ``local@domain`` addresses: a non-ASCII address needs SMTPUTF8, which
neither every mail server nor IXACT's email capture is known to take, and a message that
might be refused half-way is worse than a write refused up front with its reason.
"""

from __future__ import annotations

import re

ADDRESS_MAX = 254
"""RFC 5321's limit for a path, less its angle brackets."""

_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)

ADDRESS_RULE = "an email address such as agent@example.com (ASCII letters, no name or brackets)"


def is_address(text: str) -> bool:
    """Whether ``text`` is one bare ASCII email address (``ann@example.com``), nothing around it."""
    return len(text) <= ADDRESS_MAX and _ADDRESS.fullmatch(text) is not None
