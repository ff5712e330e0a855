"""The detection consumer: log entries in, flags (and chat acknowledgements) out.

A ``rooms.logconsumer.LogConsumer`` named ``escalation.detect``. It reads:

- ``text`` / ``note`` entries (and ``edit`` entries, keyed on the message they amend)
  from people — never from bots or the system person, and never ``system`` notices, so
  the engine's own notices cannot trigger alerts;
- ``signal`` entries with ``signal == "flag"`` (bots, docs/log-contract.md);
- ``signal`` entries with ``signal == "sensor"`` (home sensors), judged by the pure rules
  of ``escalation.sensor_rules`` and flagged on ``(message, "sensor:<rule id>")``;
- "ack" / "ack 12" from the provider's care managers in the professional room.

Every effect is keyed (flags on ``(message, rule)``, chat commands on
``(source_message, kind)``, notices on their client id), so a cursor reset replays
harmlessly. Writes happen in the consumer's transaction, so the cursor and the flags
commit together.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import ValidationError

from escalation.alerts import LABELS, do_acknowledge, do_flag, lock_open_alerts
from escalation.models import Alert, AlertEvent
from escalation.rules import detect
from escalation.schemas import FlagSignal
from escalation.sensor_rules import SensorReading, evaluate
from escalation.timeline import post_notice
from rooms.access import is_provider_manager
from rooms.logconsumer import LogConsumer
from rooms.models import Message, Role, Room

ACK = re.compile(r"^\s*ack(?:nowledged?)?\s*#?(\d+)?\s*[.!]?\s*$", re.IGNORECASE)
TEXT_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.EDIT)


class Detector(LogConsumer):
    name = "escalation.detect"

    def select(self, qs):
        return qs.filter(kind__in=[*TEXT_KINDS, Message.Kind.SIGNAL])

    def handle(self, message: Message, now: dt.datetime) -> None:
        if message.kind == Message.Kind.SIGNAL:
            self._signal(message, now)
        elif message.sender.role != Role.BOT:
            self._text(message, now)

    # ---- bot flags -------------------------------------------------------------------

    def _signal(self, message: Message, now: dt.datetime) -> None:
        if message.payload.get("signal") == "sensor":
            self._sensor(message, now)
            return
        if message.payload.get("signal") != "flag":
            return
        try:
            # Checked at write since the schema is registered (escalation/apps.py); checked
            # again here because entries written before that may still be in the log.
            data = FlagSignal.model_validate(message.payload.get("data") or {})
        except ValidationError as exc:
            # Recorded by the consumer (type only) and skipped after max_attempts.
            raise ValueError(f"invalid flag signal: {exc.error_count()} errors") from None
        subject = None
        if data.message_id:
            subject = Message.objects.filter(
                pk=data.message_id, room__service_user_id=message.room.service_user_id
            ).first()
        do_flag(
            message=message,
            rule=f"bot:{data.source}:{data.ref}",
            concern=data.concern,
            severity=data.severity,
            source=data.source,
            reason=data.reason,
            subject=subject,
            now=now,
        )

    # ---- home sensors ----------------------------------------------------------------

    def _sensor(self, message: Message, now: dt.datetime) -> None:
        try:
            reading = SensorReading.model_validate(message.payload.get("data") or {})
        except ValidationError as exc:
            raise ValueError(f"invalid sensor signal: {exc.error_count()} errors") from None
        hits = evaluate(reading)
        if len(hits) > 1:
            lock_open_alerts(message.room.service_user, [h.concern for h in hits])
        for hit in hits:
            do_flag(
                message=message,
                rule=f"sensor:{hit.rule}",
                concern=hit.concern,
                severity=hit.severity,
                source="sensor",
                reason=hit.reason,
                now=now,
            )

    # ---- people's text ---------------------------------------------------------------

    def _text(self, message: Message, now: dt.datetime) -> None:
        subject = message
        if message.kind == Message.Kind.EDIT:
            if message.target is None:
                return
            subject = message.target
        if subject.redacted_at is not None:
            return
        text = message.body
        room = message.room
        ack = ACK.match(text)
        if (
            ack
            and room.kind == Room.Kind.PROFESSIONAL
            and message.kind != Message.Kind.EDIT
            and is_provider_manager(message.sender, room.service_user)
        ):
            self._ack(message, int(ack.group(1)) if ack.group(1) else None, now)
            return
        hits = detect(text)
        if len(hits) > 1:
            lock_open_alerts(room.service_user, [h.concern for h in hits])
        for hit in hits:
            do_flag(
                message=subject,
                rule=f"rule:{hit.rule}",
                concern=hit.concern,
                severity=hit.severity,
                source="rule",
                subject=subject,
                reason=f"Detected: {LABELS[hit.concern]}",
                now=now,
            )

    def _ack(self, message: Message, alert_id: int | None, now: dt.datetime) -> None:
        if AlertEvent.objects.filter(source_message=message).exists():
            return  # replay
        su_id = message.room.service_user_id
        alerts = Alert.objects.filter(service_user_id=su_id, state=Alert.State.OPEN)
        if alert_id is None and message.reply_to is not None:
            alert_id = (message.reply_to.payload.get("data") or {}).get("alert")
        if alert_id is not None:
            alerts = alerts.filter(pk=alert_id)
        found = list(alerts.order_by("-opened_at")[:2])
        if len(found) == 1:
            do_acknowledge(found[0], message.sender, now, source_message=message)
            return
        text = (
            "Several alerts are open: reply \u201cack\u201d with the alert number."
            if found
            else "No open alert to acknowledge."
        )
        post_notice(message.room, text, "alert.ack_unclear", f"esc:ack:{message.id}", now)
