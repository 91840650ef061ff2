"""The sandbox CRM: receives socialbridge's write-backs over HTTP as a real CRM would.

    POST /hooks/<account>                     a write-back, signed with the account's secret
    POST /_sandbox/accounts                   {"account", "secret"}: register (or re-key) one
    GET  /_sandbox/accounts                   the accounts, without their secrets
    GET  /_sandbox/accounts/<a>/posts         post records (tags and tag details merged)
    GET  /_sandbox/accounts/<a>/posts/<id>    one post record
    GET  /_sandbox/accounts/<a>/statistics    statistics snapshots
    GET  /_sandbox/deliveries[?account=a]     every delivery: stored, duplicate, rejected, fault
    DELETE /_sandbox/deliveries               forget every delivery, record and fault
                                              (registered accounts stay)
    POST /_sandbox/faults                     {"status", "delay_ms", "times", "after_store",
                                              "retry_after"}: misbehave on the next deliveries
    GET|DELETE /_sandbox/faults               the pending faults; clear them
    GET  /_sandbox/latency                    {"latency_ms"}; POST {"latency_ms": N}: every
                                              answer of /hooks/ is sent N ms late
    GET  /, /accounts/<a>                     an HTML page of the records

A delivery is checked like a careful CRM would: the Standard Webhooks signature and its
timestamp (401 with a reason), the body against the write-back schemas (422 with field
errors), then its ``webhook-id``: a second delivery of the same id answers 200
``{"status": "duplicate"}`` and stores nothing; the first answers 200 ``{"status": "stored"}``.

Faults are taken one delivery at a time, in the order they were posted. Without
``after_store`` they act before anything is checked (``delay_ms``, then ``status`` instead of
storing); with it, the write-back is stored first and the answer is late (``delay_ms``) or
wrong (``status``): the CRM has the data but socialbridge does not know it.

Given a data folder (``python -m sandbox crm --data-dir DIR``), the sandbox keeps its accounts,
records, deliveries and the webhook-ids it has stored on disk (`sandbox.crm.state_file`) and
reads them back when it starts: killed and started again, it still answers "duplicate" to a
write-back it stored before, as a real CRM would. Pending faults are not kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from crm.webhook.connector import signer_for
from sandbox.crm.state_file import STATE_FILE_NAME, StateFile, StateFileError
from sandbox.latency import Latency, add_latency_routes
from schemas.events import flatten_errors
from schemas.writebacks import (
    STATISTICS_SYNCED,
    TAG_DETAILS_ATTACHED,
    TAGS_SYNCED,
    WritebackEnvelope,
    load_writeback,
    writeback_json,
)
from socialbridge.logs import get_logger

log = get_logger(__name__)

_ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_BODY_BYTES = 1024 * 1024


# --- state --------------------------------------------------------------------------------


@dataclass
class Fault:
    status: int | None
    delay_ms: int
    times: int
    after_store: bool
    retry_after: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "delay_ms": self.delay_ms,
            "times": self.times,
            "after_store": self.after_store,
            "retry_after": self.retry_after,
        }


class CrmState:
    """Everything the sandbox CRM holds; every read and write goes through ``lock``.

    With a ``state_file`` each change is written there before it is applied, and what the
    file holds is applied first: accounts, stored write-backs (so the webhook-ids seen) and
    deliveries survive a restart. Pending faults do not: a restarted CRM behaves again.
    """

    def __init__(self, secrets: Mapping[str, str], state_file: StateFile | None = None) -> None:
        self.lock = threading.Lock()
        self.state_file = state_file
        self.secrets: dict[str, str] = {}
        self.seen: set[tuple[str, str]] = set()
        self.posts: dict[tuple[str, str], dict[str, Any]] = {}
        self.statistics: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        if state_file is not None:
            for entry in state_file.load():
                self._replay(entry)
        for account, secret in secrets.items():
            self.add_account(account, secret)

    def reset(self) -> None:
        """Forget every delivery, record and fault; registered accounts stay."""
        with self.lock:
            if self.state_file is not None:
                self.state_file.rewrite(_account_entry(a, s) for a, s in self.secrets.items())
            self.seen.clear()
            self.posts.clear()
            self.statistics.clear()
            self.deliveries.clear()
            self.faults.clear()

    def add_account(self, account: str, secret: str) -> None:
        errors = account_errors(account, secret)
        if errors:
            raise ValueError(f"sandbox CRM account {account!r}: {errors}")
        if self.secrets.get(account) == secret:
            return
        self._persist(_account_entry(account, secret))
        self.secrets[account] = secret

    def take_fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self.faults.pop(0)
            return fault

    def record(self, **delivery: Any) -> None:
        """Log one delivery that stored nothing; the caller holds the lock."""
        entry = self._delivery(delivery)
        self._persist({"kind": "delivery", "delivery": entry})
        self._apply_delivery(entry)
        log.info("sandbox_crm.delivery", **{k: v for k, v in entry.items() if k != "reason"})

    def store(
        self, account: str, webhook_id: str, envelope: WritebackEnvelope, status: int
    ) -> None:
        """Apply one write-back and log its delivery (answered ``status``); the caller holds
        the lock. Both reach the state file in one write, so a kill keeps both or neither."""
        body = writeback_json(envelope)
        received_at = _now()
        delivery = self._delivery(
            {
                "account": account,
                "webhook_id": webhook_id,
                "type": envelope.type,
                "status": status,
                "outcome": "stored",
            }
        )
        self._persist(
            {
                "kind": "writeback",
                "account": account,
                "webhook_id": webhook_id,
                "body": body,
                "received_at": received_at,
            },
            {"kind": "delivery", "delivery": delivery},
        )
        self._apply_writeback(account, webhook_id, body, received_at)
        self._apply_delivery(delivery)
        log.info("sandbox_crm.delivery", **delivery)

    def _delivery(self, delivery: Mapping[str, Any]) -> dict[str, Any]:
        return {**delivery, "received_at": _now(), "seq": len(self.deliveries) + 1}

    def _persist(self, *entries: Mapping[str, Any]) -> None:
        # Written before it is applied: a failed write leaves memory as the disk is.
        if self.state_file is not None:
            self.state_file.append(entries)

    def _replay(self, entry: Mapping[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "account":
            self.secrets[entry["account"]] = entry["secret"]
        elif kind == "writeback":
            self._apply_writeback(
                entry["account"], entry["webhook_id"], entry["body"], entry["received_at"]
            )
        elif kind == "delivery":
            self._apply_delivery(entry["delivery"])
        else:
            raise StateFileError(f"unknown entry kind {kind!r} in the sandbox CRM's state file")

    def _apply_delivery(self, delivery: dict[str, Any]) -> None:
        self.deliveries.append(delivery)

    def _apply_writeback(
        self, account: str, webhook_id: str, body: Mapping[str, Any], received_at: str
    ) -> None:
        self.seen.add((account, webhook_id))
        data = body["data"]
        if body["type"] == STATISTICS_SYNCED:
            key = (account, data["location_id"], data["start_date"], data["end_date"])
            self.statistics[key] = {
                **data,
                "account": account,
                "webhook_id": webhook_id,
                "received_at": received_at,
            }
            return
        record = self.posts.setdefault((account, data["post_id"]), _empty_post(account, data))
        record["location_id"] = data["location_id"]
        if body["type"] == TAGS_SYNCED:
            record["ghl_post_id"] = data["ghl_post_id"]
            record["tags"] = data["tags"]
            record["post_tags"] = data["post_tags"]
            record["tags_synced_at"] = data["synced_at"]
        elif body["type"] == TAG_DETAILS_ATTACHED:
            record["tag_ids"] = data["tag_ids"]
            record["tag_details"] = data["tags"]
            # A state file written before write-backs named missing tags has none.
            record["missing_tag_ids"] = data.get("missing_tag_ids", [])
            record["tag_details_synced_at"] = data["synced_at"]
        record["webhook_ids"].append(webhook_id)
        record["updated_at"] = received_at


def _account_entry(account: str, secret: str) -> dict[str, Any]:
    return {"kind": "account", "account": account, "secret": secret}


def _empty_post(account: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "account": account,
        "post_id": data["post_id"],
        "location_id": data["location_id"],
        "ghl_post_id": None,
        "tags": [],
        "post_tags": [],
        "tags_synced_at": None,
        "tag_ids": [],
        "tag_details": [],
        "missing_tag_ids": [],
        "tag_details_synced_at": None,
        "webhook_ids": [],
        "updated_at": None,
    }


def account_errors(account: Any, secret: Any) -> dict[str, list[str]]:
    """Why an account name or secret cannot be used (empty when both can)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        errors["account"] = ["Use 1 to 100 letters, digits, '.', '_' or '-'."]
    try:
        if not isinstance(secret, str):
            raise TypeError
        signer_for(secret)
    except (TypeError, ValueError):
        errors["secret"] = ["Expected a Standard Webhooks secret: whsec_ followed by base64."]
    return errors


# --- fault requests -----------------------------------------------------------------------


class FaultSchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.Integer(load_default=None, validate=validate.Range(min=100, max=599))
    delay_ms = fields.Integer(load_default=0, validate=validate.Range(min=0, max=120_000))
    times = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    after_store = fields.Boolean(load_default=False)
    retry_after = fields.Integer(load_default=None, validate=validate.Range(min=0))

    @validates_schema
    def _does_something(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("status") is None and not data.get("delay_ms"):
            raise ValidationError("Give a status, a delay_ms, or both.", "_schema")


# --- the app ------------------------------------------------------------------------------


def create_sandbox_crm_app(
    *,
    secrets: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    latency_ms: int = 0,
) -> Flask:
    """The sandbox CRM; ``secrets`` maps account -> ``whsec_`` secret (more at run time).

    With ``data_dir`` it keeps its accounts, records, deliveries and the webhook-ids it has
    stored in ``data_dir/sandbox-crm.jsonl`` and reads them back when started again;
    without, it keeps them in memory only. Every answer to a write-back is sent
    ``latency_ms`` late (changeable at ``/_sandbox/latency``), after it was stored.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.jinja_env.filters["pretty"] = _pretty
    state_file = None if data_dir is None else StateFile(Path(data_dir) / STATE_FILE_NAME)
    state = CrmState(secrets or {}, state_file)
    app.extensions["sandbox_crm"] = state
    latency = Latency(latency_ms)
    add_latency_routes(app, latency)

    @app.after_request
    def delay_answer(response: Response) -> Response:
        # Only the CRM's own API: the admin API and the pages answer at once.
        if request.path.startswith("/hooks/"):
            latency.wait()
        return response

    @app.post("/hooks/<account>")
    def receive(account: str) -> tuple[Response, int]:
        webhook_id = request.headers.get("webhook-id", "")
        fault = state.take_fault()
        if fault is not None and not fault.after_store:
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            if fault.status is not None:
                with state.lock:
                    state.record(
                        account=account,
                        webhook_id=webhook_id,
                        type=None,
                        status=fault.status,
                        outcome="fault",
                    )
                return _fault_answer(fault)
            fault = None

        with state.lock:
            secret = state.secrets.get(account)
        if secret is None:
            return _reject(state, account, webhook_id, None, 404, "unknown account")
        body = request.get_data(cache=False)
        try:
            Webhook(secret).verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return _reject(state, account, webhook_id, None, 401, str(exc))
        except ValueError:
            # The library lets malformed signature headers or bodies escape as ValueError.
            return _reject(state, account, webhook_id, None, 401, "Malformed signature headers")

        try:
            payload = json.loads(body)
        except ValueError:
            return _reject(
                state,
                account,
                webhook_id,
                None,
                422,
                "body is not JSON",
                {"_body": ["Not valid JSON."]},
            )
        kind = payload.get("type") if isinstance(payload, dict) else None
        kind = kind if isinstance(kind, str) else None
        try:
            envelope = load_writeback(payload)
        except ValidationError as exc:
            errors = flatten_errors(exc.messages)
            return _reject(state, account, webhook_id, kind, 422, "invalid write-back", errors)

        with state.lock:
            if (account, webhook_id) in state.seen:
                state.record(
                    account=account,
                    webhook_id=webhook_id,
                    type=kind,
                    status=200,
                    outcome="duplicate",
                )
                return jsonify(status="duplicate", webhook_id=webhook_id), 200
            answer = fault.status if fault is not None and fault.status is not None else 200
            state.store(account, webhook_id, envelope, answer)
        if fault is not None:
            # Stored, and now late or wrong: what a worker killed mid-request leaves behind.
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
            if fault.status is not None:
                return _fault_answer(fault)
        return jsonify(status="stored", webhook_id=webhook_id), 200

    @app.post("/_sandbox/accounts")
    def add_account() -> tuple[Response, int]:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return jsonify(errors={"_body": ["Expected a JSON object."]}), 422
        account, secret = payload.get("account"), payload.get("secret")
        errors = account_errors(account, secret)
        unknown = sorted(set(payload) - {"account", "secret"})
        errors.update({name: ["Unknown field."] for name in unknown})
        if errors or not isinstance(account, str) or not isinstance(secret, str):
            return jsonify(errors=errors), 422
        with state.lock:
            known = account in state.secrets
            state.add_account(account, secret)
        return jsonify(account=account, hook_path=f"/hooks/{account}"), 200 if known else 201

    @app.get("/_sandbox/accounts")
    def list_accounts() -> Response:
        with state.lock:
            accounts = [
                {
                    "account": name,
                    "hook_path": f"/hooks/{name}",
                    "posts": sum(1 for key in state.posts if key[0] == name),
                    "statistics": sum(1 for key in state.statistics if key[0] == name),
                }
                for name in sorted(state.secrets)
            ]
        return jsonify(accounts)

    @app.get("/_sandbox/accounts/<account>/posts")
    def list_posts(account: str) -> Response:
        with state.lock:
            _require_account(state, account)
            return jsonify(_copy([r for k, r in state.posts.items() if k[0] == account]))

    @app.get("/_sandbox/accounts/<account>/posts/<post_id>")
    def show_post(account: str, post_id: str) -> Response:
        with state.lock:
            _require_account(state, account)
            record = state.posts.get((account, post_id))
            if record is None:
                abort(_json_error(404, "unknown post"))
            return jsonify(_copy(record))

    @app.get("/_sandbox/accounts/<account>/statistics")
    def list_statistics(account: str) -> Response:
        with state.lock:
            _require_account(state, account)
            return jsonify(_copy([s for k, s in state.statistics.items() if k[0] == account]))

    @app.get("/_sandbox/deliveries")
    def list_deliveries() -> Response:
        account = request.args.get("account")
        with state.lock:
            return jsonify(
                _copy([d for d in state.deliveries if account is None or d["account"] == account])
            )

    @app.delete("/_sandbox/deliveries")
    def reset() -> Response:
        state.reset()
        return jsonify(status="reset")

    @app.post("/_sandbox/faults")
    def add_fault() -> tuple[Response, int]:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return jsonify(errors={"_body": ["Expected a JSON object."]}), 422
        try:
            fault = Fault(**FaultSchema().load(payload))
        except ValidationError as exc:
            return jsonify(errors=flatten_errors(exc.messages)), 422
        with state.lock:
            state.faults.append(fault)
            pending = [f.as_json() for f in state.faults]
        return jsonify(faults=pending), 201

    @app.get("/_sandbox/faults")
    def list_faults() -> Response:
        with state.lock:
            return jsonify(faults=[f.as_json() for f in state.faults])

    @app.delete("/_sandbox/faults")
    def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
        return jsonify(faults=[])

    @app.get("/")
    def index() -> str:
        with state.lock:
            accounts = [_page_account(state, name) for name in sorted(state.secrets)]
        return render_template("sandbox_crm.html", accounts=accounts, single=False)

    @app.get("/accounts/<account>")
    def show_account(account: str) -> str:
        with state.lock:
            if account not in state.secrets:
                abort(404)
            accounts = [_page_account(state, account)]
        return render_template("sandbox_crm.html", accounts=accounts, single=True)

    return app


def _reject(
    state: CrmState,
    account: str,
    webhook_id: str,
    kind: str | None,
    status: int,
    reason: str,
    errors: dict[str, list[str]] | None = None,
) -> tuple[Response, int]:
    with state.lock:
        state.record(
            account=account,
            webhook_id=webhook_id,
            type=kind,
            status=status,
            outcome="rejected",
            reason=reason,
        )
    if errors is not None:
        return jsonify(error=reason, errors=errors), status
    return jsonify(error=reason), status


def _fault_answer(fault: Fault) -> tuple[Response, int]:
    assert fault.status is not None
    response = jsonify(error="injected fault", status=fault.status)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response, fault.status


def _require_account(state: CrmState, account: str) -> None:
    if account not in state.secrets:
        abort(_json_error(404, "unknown account"))


def _json_error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _page_account(state: CrmState, account: str) -> dict[str, Any]:
    return {
        "name": account,
        "posts": _copy([r for k, r in state.posts.items() if k[0] == account]),
        "statistics": _copy([s for k, s in state.statistics.items() if k[0] == account]),
    }


def _copy(value: Any) -> Any:
    # Answers are built from copies so no caller ever holds the state's own lists.
    return copy.deepcopy(value)


def _pretty(value: Any) -> str:
    """JSON for people; the template's autoescape makes it safe to show."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
