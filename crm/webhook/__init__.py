"""The generic CRM connector: signed webhooks out (Standard Webhooks), any inbound mode."""

from crm.webhook.connector import WebhookConnector
from crm.webhook.kind import KIND

__all__ = ["KIND", "WebhookConnector"]
