"""The SmartOffice connector: write-backs as SmartPads through the XML Engine.

`KIND` is what the registry lists; `SmartOfficeConnector` the connector it builds. The
protocol's modules: `settings` (the two access modes), `requests` (the XML sent), `answers`
(reading what comes back, error codes included) and `texts` (Keywords and Note).
"""

from crm.smartoffice.connector import SmartOfficeConnector
from crm.smartoffice.kind import KIND

__all__ = ["KIND", "SmartOfficeConnector"]
