"""The generic CRM connector: signed webhooks out (Standard Webhooks)."""

from crm.webhook.connector import WebhookConnector

__all__ = ["WebhookConnector"]
