"""The server is threaded: concurrent requests over real HTTP share the state safely."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from sandbox.server import ServerThread
from sandbox.smartoffice.app import create_sandbox_smartoffice_app
from sandbox.smartoffice.state import DEMO_CONTACT_ID
from tests.unit.sandbox.smartoffice.xmldocs import direct_header, document, el, parse, smartpad

WORKERS = 6
INSERTS_EACH = 5


def test_concurrent_inserts_each_get_their_own_id_and_all_are_kept() -> None:
    with ServerThread(create_sandbox_smartoffice_app()) as server:

        def insert(worker: int) -> list[str]:
            ids = []
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for n in range(INSERTS_EACH):
                    body = document(
                        direct_header(),
                        el("insert", smartpad(DEMO_CONTACT_ID, f"worker {worker} note {n}")),
                    )
                    answer = parse(http.post("/xml", content=body).content)
                    pad = answer.find("insert/SmartPad")
                    assert pad is not None
                    assert pad.get("_status") == "inserted"
                    ids.append(pad.attrib["id"])
            return ids

        with ThreadPoolExecutor(WORKERS) as pool:
            answered = [i for ids in pool.map(insert, range(WORKERS)) for i in ids]
        stored = httpx.get(f"{server.url}/_sandbox/smartpads", timeout=30).json()
        requests = httpx.get(f"{server.url}/_sandbox/requests", timeout=30).json()

    assert len(set(answered)) == WORKERS * INSERTS_EACH
    assert sorted(p["id"] for p in stored) == sorted(answered)
    assert sorted(r["seq"] for r in requests) == list(range(1, WORKERS * INSERTS_EACH + 1))
