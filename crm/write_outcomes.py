"""The `outcome` of a failed write on its ``crm.write`` log line, in the words of every connector.

    log.warning("crm.write", outcome=failure_outcome(exc), error=exc.message, **fields)

Each connector logs one ``crm.write`` line per write (docs/operations.md lists its fields); a
write that raised names its error's branch of the tree the same way whichever CRM it was for,
so a dashboard counts ``retryable`` or ``rejected`` across connectors. Outcomes that only one
connector has (``already_stored``, ``already_sent``, ``timeout``, ``network``) stay in it.
"""

from __future__ import annotations

from socialbridge.errors import AuthError, IntegrationError, RetryableError

RETRYABLE = "retryable"
REJECTED = "rejected"
REFUSED_CREDENTIALS = "refused_credentials"
REFUSED_SIGNATURE = "refused_signature"


def failure_outcome(error: IntegrationError, *, refused: str = REFUSED_CREDENTIALS) -> str:
    """``retryable``, `refused` (an AuthError) or ``rejected`` (a PermanentError).

    `refused` says what the CRM would not accept: the connection's credentials, or for a
    webhook CRM our signature (REFUSED_SIGNATURE).
    """
    if isinstance(error, RetryableError):
        return RETRYABLE
    if isinstance(error, AuthError):
        return refused
    return REJECTED
