"""The sandbox CRM: a real HTTP server that receives write-backs (see `sandbox.crm.app`)."""

from sandbox.crm.app import create_sandbox_crm_app

__all__ = ["create_sandbox_crm_app"]
