"""Linking a CoCare person to their Matrix account, proven by a one-time code.

Who: the person themselves, or a care manager of a provider in whose rooms the person is
a member (``rooms.access.access_provider_member``); anyone else gets NotFound.

How (docs/matrix.md, "Linking a Matrix account"):
1. ``check_request_link_code``: the Matrix id is validated strictly
   (``bridge.matrixid``); a 6-digit code is drawn from ``secrets``, only its keyed hash
   (HMAC-SHA256 under the secret key, bound to the person and the Matrix id) is stored,
   and the bridge bot sends it in a direct Matrix room with that account (created once per
   Matrix id, then reused). A newer code supersedes older ones. Limits: codes per person,
   per Matrix id and per requester per hour.
2. ``check_confirm_link_code``: the code typed into CoCare is compared in constant time;
   it works once, for ``CODE_TTL``, for at most ``MAX_ATTEMPTS`` tries (each try is
   committed before the answer, a wrong one included). Only then ``do_link_matrix_id``.

The proof is typed into CoCare (not replied in Matrix): whoever links must see the code
that only the Matrix account received, so a typo or someone else's id links nothing.

The homeserver is called from the request (no transaction is held across it): the page
says at once when the code could not be delivered (an unknown account, a server that
does not federate with ours) instead of leaving someone waiting for a code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from nio import Api, RoomPreset

from bridge.actions import do_link_matrix_id, do_unlink_matrix_id
from bridge.conf import BridgeConfig
from bridge.matrix import MatrixRefused, MatrixUnavailable
from bridge.matrixid import InvalidMatrixId, parse_user_id
from bridge.models import MatrixLinkCode
from rooms import access, audit
from rooms.errors import Conflict, Invalid, NotFound, RateLimited
from rooms.models import Person, Role

log = logging.getLogger(__name__)
State = MatrixLinkCode.State

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
PER_HOUR_PERSON = 5
PER_HOUR_MATRIX_ID = 3
PER_HOUR_REQUESTER = 30
CODE_TEXT = (
    "Your CoCare code is {code}. Type it into CoCare, where your Matrix account "
    "is being linked, within {minutes} minutes. If you did not ask for this, "
    "ignore it: without the code nothing is linked."
)


class MatrixCaller(Protocol):
    """What this module needs of ``bridge.matrix.MatrixClient``."""

    def call(
        self, method: str, path: str, body: Any = None, *, as_user: str | None = None
    ) -> dict[str, Any]: ...


def code_hash(person_id: int, matrix_id: str, code: str) -> str:
    msg = f"cocare-matrix-link:{person_id}:{matrix_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), msg, hashlib.sha256).hexdigest()


def access_link_target(actor: Person | None, person_id: int) -> Person:
    """The person whose Matrix link ``actor`` may manage: themselves, or a member of their
    provider's rooms for a care manager. NotFound otherwise (one answer for every reason)."""
    if actor is None or actor.role == Role.BOT:
        raise NotFound("No such person.")
    if person_id == actor.pk:
        return actor
    return access.access_provider_member(actor, person_id)


def pending_code(person: Person, now: dt.datetime) -> MatrixLinkCode | None:
    """The code this person can still confirm, if any (for the page)."""
    return (
        MatrixLinkCode.objects.filter(person=person, state=State.PENDING, expires_at__gt=now)
        .order_by("-created_at")
        .first()
    )


def _check_limits(actor: Person, person: Person, matrix_id: str, now: dt.datetime) -> None:
    hour = now - dt.timedelta(hours=1)
    recent = MatrixLinkCode.objects.filter(created_at__gt=hour)
    if recent.filter(person=person).count() >= PER_HOUR_PERSON:
        raise RateLimited("Too many codes for this person in the last hour. Try again later.")
    if recent.filter(matrix_id=matrix_id).count() >= PER_HOUR_MATRIX_ID:
        raise RateLimited(
            "Too many codes were sent to this Matrix account in the last hour. Try again later."
        )
    if recent.filter(requested_by=actor).count() >= PER_HOUR_REQUESTER:
        raise RateLimited("You have sent too many codes in the last hour. Try again later.")


def check_request_link_code(
    actor: Person,
    person_id: int,
    matrix_id_text: str,
    *,
    cfg: BridgeConfig | None,
    client: MatrixCaller | None,
    now: dt.datetime,
) -> MatrixLinkCode:
    """Send a new code to the Matrix account; returns the pending code row.

    Raises NotFound (no access), Invalid (bad id, the bridge is off, not delivered),
    RateLimited. A code the homeserver refused to deliver is kept as ``unsent``.
    """
    person = access_link_target(actor, person_id)
    if cfg is None or client is None:
        raise Invalid("The Matrix bridge is not set up on this CoCare.")
    try:
        matrix_id = parse_user_id(matrix_id_text)
    except InvalidMatrixId as exc:
        raise Invalid(str(exc), code="invalid_matrix_id") from None
    if cfg.is_ours(matrix_id):
        raise Invalid(
            "That is one of CoCare's own Matrix accounts, not a person's.", code="invalid_matrix_id"
        )
    if person.matrix_id == matrix_id:
        raise Invalid("This Matrix account is already linked.")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)  # one request at a time
        _check_limits(actor, person, matrix_id, now)
        MatrixLinkCode.objects.filter(person=person, state=State.PENDING).update(
            state=State.SUPERSEDED
        )
        row = MatrixLinkCode.objects.create(
            person=person,
            matrix_id=matrix_id,
            code_hash=code_hash(person.pk, matrix_id, code),
            requested_by=actor,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        audit.record(actor, "matrix.link_code_sent", target=f"person:{person.pk}", now=now)
    known = (
        MatrixLinkCode.objects.filter(matrix_id=matrix_id)
        .exclude(dm_room_id="")
        .order_by("-created_at")
        .values_list("dm_room_id", flat=True)
        .first()
    )
    try:
        room_id = _deliver(client, cfg, matrix_id, known, code, f"cocare-link-{row.pk}", row)
    except (MatrixRefused, MatrixUnavailable) as exc:
        MatrixLinkCode.objects.filter(pk=row.pk).update(state=State.UNSENT)
        reason = exc.errcode if isinstance(exc, MatrixRefused) else "unreachable"
        log.info("bridge: link code %s not delivered (%s)", row.pk, reason)
        if isinstance(exc, MatrixUnavailable):
            raise Invalid("The Matrix server did not answer. Try again in a minute.") from None
        raise Invalid(
            f"Matrix could not deliver the code to {matrix_id} ({reason}). Check the Matrix id.",
            code="not_delivered",
        ) from None
    row.dm_room_id = room_id
    return row


def _deliver(
    client: MatrixCaller,
    cfg: BridgeConfig,
    matrix_id: str,
    known: str | None,
    code: str,
    txn_id: str,
    row: MatrixLinkCode,
) -> str:
    """Invite ``matrix_id`` to the bot's direct room with them and post the code there.

    The room of an earlier code is reused; if the homeserver refuses it (the bot left, the
    room is gone), a new direct room is made, so one dead room never blocks an account.
    """
    if known is not None:
        try:
            _invite(client, known, matrix_id)
            _send_code(client, known, code, txn_id)
        except MatrixRefused as exc:
            log.info("bridge: link room of code %s refused (%s); new room", row.pk, exc.errcode)
        else:
            MatrixLinkCode.objects.filter(pk=row.pk).update(dm_room_id=known)
            return known
    method, path, data = Api.room_create(
        "",
        name="CoCare",
        topic="Codes for linking your Matrix account to CoCare",
        preset=RoomPreset.private_chat,
        is_direct=True,
        invite=[matrix_id],
        initial_state=[
            {
                "type": "m.room.guest_access",
                "state_key": "",
                "content": {"guest_access": "forbidden"},
            }
        ],
    )
    room_id = str(client.call(method, path, data)["room_id"])
    MatrixLinkCode.objects.filter(pk=row.pk).update(dm_room_id=room_id)
    _send_code(client, room_id, code, txn_id)
    return room_id


def _send_code(client: MatrixCaller, room_id: str, code: str, txn_id: str) -> None:
    content = {
        "msgtype": "m.notice",
        "body": CODE_TEXT.format(code=code, minutes=int(CODE_TTL.total_seconds() // 60)),
    }
    method, path, data = Api.room_send("", room_id, "m.room.message", content, txn_id)
    client.call(method, path, data)


def _invite(client: MatrixCaller, room_id: str, matrix_id: str) -> None:
    """Invite again (they may have left); already invited or joined is fine."""
    method, path, data = Api.room_invite("", room_id, matrix_id)
    try:
        client.call(method, path, data)
    except MatrixRefused as exc:
        if exc.errcode != "M_FORBIDDEN":
            raise
        method, path = Api.room_get_state_event("", room_id, "m.room.member", matrix_id)
        membership = client.call(method, path).get("membership")
        if membership not in ("invite", "join"):
            raise


def check_confirm_link_code(
    actor: Person, person_id: int, code_text: str, *, now: dt.datetime
) -> Person:
    """Link the Matrix account the person's pending code was sent to, if ``code_text`` is it.

    Raises NotFound (no access), Invalid (no code waiting, expired, wrong, locked),
    Conflict (the account is linked to someone else). The try is counted and committed
    before any refusal, so the attempt limit cannot be dodged.
    """
    person = access_link_target(actor, person_id)
    entered = re.sub(r"[\s-]", "", code_text)
    if not re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", entered):
        raise Invalid(f"The code is the {CODE_DIGITS} digits sent to the Matrix account.")
    with transaction.atomic():
        row = (
            MatrixLinkCode.objects.select_for_update()
            .filter(person=person, state=State.PENDING)
            .order_by("-created_at")
            .first()
        )
        refusal: Exception | None = None
        if row is None:
            refusal = Invalid("No code is waiting for this person. Send a new code.")
        elif row.expires_at <= now:
            refusal = Invalid("This code has expired. Send a new code.")
        else:
            row.attempts += 1
            right = hmac.compare_digest(row.code_hash, code_hash(person.pk, row.matrix_id, entered))
            if right:
                try:
                    do_link_matrix_id(person, row.matrix_id, by=actor, now=now)
                except Conflict as exc:
                    refusal = exc
                else:
                    row.state, row.used_at = State.USED, now
            elif row.attempts >= MAX_ATTEMPTS:
                row.state = State.LOCKED
                refusal = Invalid(
                    "That code is not right, and that was the last try. Send a new code."
                )
            else:
                left = MAX_ATTEMPTS - row.attempts
                refusal = Invalid(
                    f"That code is not right. {left} {'try' if left == 1 else 'tries'} left."
                )
            row.save(update_fields=["attempts", "state", "used_at"])
    if refusal is not None:
        raise refusal
    return person


def check_unlink_matrix_id(actor: Person, person_id: int, *, now: dt.datetime) -> bool:
    """Unlink (idempotent); the bridge then kicks the account from every bridged room."""
    person = access_link_target(actor, person_id)
    return do_unlink_matrix_id(person, by=actor, now=now)
