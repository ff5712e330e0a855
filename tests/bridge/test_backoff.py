"""The sender's backoff while the homeserver is unreachable (no homeserver: a stub that is down)."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.matrix import MatrixUnavailable
from bridge.models import BridgedRoom, MatrixMember, OutboxEntry, Puppet
from bridge.outbound import OutboxConsumer
from bridge.sender import MatrixSender, backoff_seconds, puppet_display_name
from rooms.messages import check_post_message
from tests.bridge.conftest import make_config
from tests.support.cast import T0


def test_backoff_doubles_from_one_second_and_is_capped():
    assert [backoff_seconds(n, cap=30) for n in range(0, 8)] == [1, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_seconds(50, cap=30) == 30  # no overflow for long outages
    assert backoff_seconds(3, cap=2.5) == 2.5


class DownHomeserver:
    """Every request fails as if the homeserver were unreachable; calls are counted."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattr__(self, name):
        def unreachable(*args, **kwargs):
            self.calls.append(name)
            raise MatrixUnavailable("ConnectError")

        return unreachable


@pytest.mark.django_db
@pytest.mark.parametrize("room_bridged", [False, True], ids=["room-not-created", "room-exists"])
def test_while_the_homeserver_is_down_the_rooms_head_backs_off_doubling_to_the_cap(
    cast, room_bridged
):
    cfg = make_config(retry_max_seconds=30)
    if room_bridged:  # the usual outage: room, puppet and membership already in place
        bridged = BridgedRoom.objects.create(
            room=cast.team, matrix_room_id="!t:cocare.test", created_at=T0
        )
        puppet = Puppet.objects.create(
            person=cast.anna,
            user_id=cfg.puppet_user_id(cast.anna.id),
            display_name=puppet_display_name(cast.anna),
            registered_at=T0,
        )
        MatrixMember.objects.create(
            bridged_room=bridged, user_id=puppet.user_id, state="joined", updated_at=T0
        )
    for body in ("first", "second"):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=body, now=T0)
    OutboxConsumer().run_once(T0)
    head, behind = OutboxEntry.objects.order_by("seq")
    server = DownHomeserver()
    sender = MatrixSender(cfg, client=server)

    now, delays = T0, []
    for _ in range(7):
        assert sender.run_once(now) == 0
        head.refresh_from_db()
        delays.append((head.next_attempt_at - now).total_seconds())
        calls = len(server.calls)
        sender.run_once(head.next_attempt_at - dt.timedelta(milliseconds=1))
        assert len(server.calls) == calls, "no request before the head is due"
        now = head.next_attempt_at
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    behind.refresh_from_db()
    assert (head.status, behind.status, behind.attempts) == ("pending", "pending", 0)
    # One send, then only the look-up of that uncertain send; nothing else was tried.
    assert server.calls == (
        ["send"] + ["recent_events"] * 6 if room_bridged else ["create_room"] * 7
    )
