"""Inbound across a real Synapse restart (stop the process, start it on the same data).

Synapse on SQLite numbers its appservice transactions from 1 again after every restart;
on PostgreSQL it keeps counting. Either way every Matrix message sent after the restart
must reach CoCare exactly once, and a stranger let in after the restart must be kicked.
"""

from __future__ import annotations

import pytest
from nio import RoomSendResponse

from bridge.models import AppserviceTransaction, InboundEvent
from cocare_chat import clock
from rooms.messages import check_post_message
from rooms.models import Message
from tests.bridge.conftest import wait_until
from tests.bridge.nio_helpers import (
    invite_as_bot,
    linked_nurse_in_team_room,
    membership,
    nio_client,
)

pytestmark = [pytest.mark.synapse, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def send(run, client, room_id: str, body: str) -> str:
    """Send as a Matrix user; the first request after a restart may need a retry."""
    for _ in range(5):
        r = run(client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body}))
        if isinstance(r, RoomSendResponse):
            return r.event_id
    raise AssertionError(f"could not send: {r}")


def in_cocare(event_id: str) -> bool:
    return InboundEvent.objects.filter(event_id=event_id, outcome="posted").exists()


def test_after_a_synapse_restart_every_matrix_message_arrives_once_and_strangers_are_kicked(
    matrix_on, cast, run
):
    matrix = matrix_on
    if matrix.synapse.database is None:
        # Start from a fresh counter, as after any restart: the transaction ids of this
        # conversation are then the ones the restart below hands out again.
        wait_until(
            lambda: matrix.synapse.pending_appservice_txns() == 0,
            timeout=60,
            what="no appservice transaction in flight",
        )
        matrix.synapse.stop()
        matrix.synapse.start()
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    # A conversation: one transaction per event, so the counter is well past what the
    # restart will replay.
    for i in range(8):
        event_id = send(run, nurse, room_id, f"before-{i}")
        wait_until(lambda e=event_id: in_cocare(e), timeout=30, what=f"before-{i} in CoCare")
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"reply-{i}")
        bridge.drain()
    seen_before = set(AppserviceTransaction.objects.values_list("txn_id", flat=True))
    assert len(seen_before) >= 8
    if matrix.synapse.database is None:
        # Every push acknowledged: the SQLite counter restarts from 1 (see below).
        wait_until(
            lambda: matrix.synapse.pending_appservice_txns() == 0,
            timeout=60,
            what="Synapse has no appservice transaction in flight",
        )

    restarted_at = clock.now()
    matrix.synapse.stop()
    matrix.synapse.start()
    try:
        mallory = nio_client(matrix, run, "mallory")
        after = [send(run, nurse, room_id, f"after-{i}") for i in range(6)]
        invite_as_bot(matrix, room_id, mallory.user_id)
        joined = run(mallory.join(room_id))
        assert getattr(joined, "room_id", None) == room_id, joined

        wait_until(
            lambda: all(in_cocare(e) for e in after),
            timeout=90,
            what="every message sent after the restart in CoCare",
        )
        wait_until(
            lambda: membership(matrix, room_id, mallory.user_id) == "leave",
            timeout=60,
            step=bridge.drain,
            what="the stranger kicked",
        )
        bodies = list(
            Message.objects.filter(sender=cast.nadia).order_by("seq").values_list("body", flat=True)
        )
        assert bodies == [f"before-{i}" for i in range(8)] + [f"after-{i}" for i in range(6)]
        if matrix.synapse.database is None:
            # On SQLite the restart really did reuse transaction ids already seen.
            reused = AppserviceTransaction.objects.filter(
                txn_id__in=seen_before, received_at__gte=restarted_at
            )
            assert reused.exists()
    finally:
        # After a restart Synapse keeps pushing echoes for a while (its recoverer backs
        # off); stop the endpoint so they cannot race the next test's database flush.
        matrix.appservice.stop()
