"""The HighLevel (GHL) Social Planner client: `GHLClient`, and the errors it maps to."""

from ghl.client import GHLClient

__all__ = ["GHLClient"]
