"""Worker factory registered as ``escalation`` in ``COCARE_WORKERS``."""

from __future__ import annotations

from escalation.detector import Detector
from escalation.message_push import MessagePush
from escalation.push_sender import PushSender
from escalation.ticker import Ticker


def make_workers():
    """Detector first, so an alert opened in a drain round is stepped in the same round;
    message pushes are queued before the sender runs."""
    return [Detector(), Ticker(), MessagePush(), PushSender()]
