"""The IXACT Contact connector: write-backs as emails that IXACT's email capture files.

IXACT Contact has no API and sends no webhooks; mail from an authorized sender address with
its capture address among the recipients lands in the Contact History of the contact in To.
`KIND` is what the registry lists; `IxactConnector` the connector it builds. The modules:
`settings` (the mail server and addresses), `texts` (subject and body), `message` (the
email and its envelope), `sending` (SMTP and its answers) and `connector` (at most once per
write, by the write ledger).
"""

from crm.ixact.connector import IxactConnector
from crm.ixact.kind import KIND

__all__ = ["KIND", "IxactConnector"]
