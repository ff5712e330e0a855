"""Worker factory registered as ``sensors`` in ``COCARE_WORKERS``."""

from __future__ import annotations

from sensors.ticker import MovementTicker


def make_workers() -> list:
    """The movement timer. Sensor events themselves need no worker: ingestion writes them
    to the log, and the escalation detector reads them from there."""
    return [MovementTicker()]
