"""Worker factory for ``COCARE_WORKERS["bridge"]``: the outbox consumer, the sender and
the fetcher of photos and files sent from Matrix."""

from __future__ import annotations

from bridge import conf
from bridge.media import MediaFetcher
from bridge.outbound import OutboxConsumer
from bridge.sender import MatrixSender


def make_workers() -> list:
    """Both workers, or none when no homeserver is configured (the bridge is off)."""
    cfg = conf.load()
    if cfg is None:
        return []
    return [OutboxConsumer(), MatrixSender(cfg), MediaFetcher(cfg)]
