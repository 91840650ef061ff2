"""A sandbox SmartOffice XML Engine (SmartIntegrator): the vendor's XML-over-HTTP API.

app = create_sandbox_smartoffice_app()       # seed account and contacts: see .state
with ServerThread(app) as server:            # from sandbox.server
    httpx.post(f"{server.url}/xml", content=request_document)
"""

from sandbox.smartoffice.app import XML_PATH, create_sandbox_smartoffice_app

__all__ = ["XML_PATH", "create_sandbox_smartoffice_app"]
