"""The appservice endpoints the homeserver calls (Matrix Application Service API v1).

``PUT /_matrix/app/v1/transactions/{txnId}`` (and the legacy unprefixed path): authenticated
by ``hs_token`` (``Authorization: Bearer``, or ``access_token`` in the query for older
homeservers), processed in one database transaction, and answered 200 only after that
transaction committed — a failure answers 503 so the homeserver retries the same txn.
Errors use Matrix error bodies (``errcode``/``error``); never a 500, never content in logs.
"""

from __future__ import annotations

import hmac
import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from bridge import conf
from bridge.events import AppserviceTransaction
from bridge.inbound import process_transaction
from cocare_chat import clock
from rooms import bounds

log = logging.getLogger(__name__)
MAX_BODY = 10 * 1024 * 1024


def _error(status: int, errcode: str, error: str) -> JsonResponse:
    return JsonResponse({"errcode": errcode, "error": error}, status=status)


def _authorise(request: HttpRequest):
    """(config, None) when the homeserver presented our hs_token, else (None, response)."""
    cfg = conf.load()
    if cfg is None:
        return None, _error(404, "M_UNRECOGNIZED", "The Matrix bridge is not configured.")
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.GET.get("access_token")
    if not token:
        return None, _error(401, "M_UNAUTHORIZED", "Missing token.")
    if not hmac.compare_digest(token.encode(), cfg.hs_token.encode()):
        return None, _error(403, "M_FORBIDDEN", "Bad token.")
    return cfg, None


@csrf_exempt
def transactions(request: HttpRequest, txn_id: str) -> JsonResponse:
    if request.method != "PUT":
        return _error(405, "M_UNRECOGNIZED", "Use PUT.")
    cfg, refusal = _authorise(request)
    if refusal is not None:
        return refusal
    if len(txn_id) > 255:
        return _error(400, "M_INVALID_PARAM", "Transaction id too long.")
    if len(request.body) > MAX_BODY:
        return _error(413, "M_TOO_LARGE", "Transaction too large.")
    try:
        # bounds.loads: NaN/Infinity/1e999/2**64 anywhere would otherwise reach jsonb.
        body = AppserviceTransaction.model_validate(bounds.loads(request.body or b"{}"))
    except bounds.BadNumber as exc:
        return _error(400, "M_BAD_JSON", f"Numbers must be finite and fit 64 bits: {exc}")
    except (ValueError, RecursionError, ValidationError):
        return _error(400, "M_BAD_JSON", 'Expected {"events": [...]}.')
    try:
        process_transaction(txn_id, body.events, cfg, clock.now())
    except Exception as exc:  # e.g. the database is unavailable: let the homeserver retry
        log.warning("appservice transaction failed: %s", type(exc).__name__)
        return _error(503, "M_UNKNOWN", "Try again later.")
    return JsonResponse({})


@csrf_exempt
def query_user(request: HttpRequest, user_id: str) -> JsonResponse:
    """Puppets are created by the bridge when needed, never on a homeserver query."""
    cfg, refusal = _authorise(request)
    return refusal or _error(404, "M_NOT_FOUND", "No such user.")


@csrf_exempt
def query_alias(request: HttpRequest, alias: str) -> JsonResponse:
    cfg, refusal = _authorise(request)
    return refusal or _error(404, "M_NOT_FOUND", "No such room.")


@csrf_exempt
def ping(request: HttpRequest) -> JsonResponse:
    cfg, refusal = _authorise(request)
    return refusal or JsonResponse({})
