"""CRM connectors: the interface (`crm.connector`), the registry and one package per kind."""
