"""The firebase-admin path against a stub FCM endpoint on loopback — nothing leaves the host.

The stub answers the OAuth token exchange (the generated service-account key's
``token_uri`` points at it) and FCM v1 ``messages:send``: success, a retryable 503
UNAVAILABLE, and 404 UNREGISTERED, chosen by the device token.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cocare_chat.config import get_config
from escalation import push
from escalation.models import Alert, Notification
from escalation.push_sender import MAX_ATTEMPTS, PushSender, backoff
from rooms.models import PushDevice
from tests.escalation.helpers import drain, say


class StubFCM(BaseHTTPRequestHandler):
    requests: list[dict] = []
    tokens = 0

    def log_message(self, *args):
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/token":
            type(self).tokens += 1
            return self._reply(
                200, {"access_token": "stub-access", "expires_in": 3600, "token_type": "Bearer"}
            )
        body = json.loads(raw)
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        token = body["message"]["token"]
        if token.startswith("ok-"):
            return self._reply(200, {"name": "projects/cocare-test/messages/42"})
        if token.startswith("busy-"):
            return self._reply(
                503, {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
            )
        return self._reply(
            404,
            {
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "UNREGISTERED",
                        }
                    ],
                }
            },
        )


@pytest.fixture
def fcm(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubFCM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    creds = tmp_path / "service-account.json"
    creds.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "cocare-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@cocare-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{base}/token",
            }
        )
    )
    monkeypatch.setenv("COCARE_PUSH_BACKEND", "fcm")
    monkeypatch.setenv("COCARE_FCM_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("COCARE_FCM_ENDPOINT", base)
    get_config.cache_clear()
    push.reset_app()
    StubFCM.requests = []
    StubFCM.tokens = 0
    yield StubFCM
    push.reset_app()
    monkeypatch.undo()
    get_config.cache_clear()
    server.shutdown()
    server.server_close()


def _device(person, token, now):
    return PushDevice.objects.create(person=person, token=token, token_hash=token, created_at=now)


def test_success_sends_an_opaque_id_and_generic_text_only(cast, frozen_clock, fcm):
    dev = _device(cast.carol, "ok-carol-phone", frozen_clock.now())
    say(cast.debbie, cast.family, "Mum was on the floor when I rang this morning")
    drain()
    n = Notification.objects.get(channel="push")
    assert (n.status, n.attempts, n.device_id) == ("sent", 1, dev.id)
    assert n.provider_id == "projects/cocare-test/messages/42"
    (req,) = fcm.requests
    assert req["path"] == "/v1/projects/cocare-test/messages:send"
    assert req["auth"] == "Bearer stub-access"
    assert fcm.tokens == 1
    msg = req["body"]["message"]
    assert msg["data"] == {"notification": str(n.id), "kind": "alert"}
    assert msg["notification"] == {"title": "CoCare", "body": "You have a new alert in CoCare"}
    wire = json.dumps(req["body"]).lower()
    for secret in ("floor", "fall", "peggy", "margaret", "high", str(Alert.objects.get().id)):
        assert secret not in wire.replace(str(n.id), "")


def test_retryable_error_backs_off_in_columns_then_gives_up(cast, frozen_clock, fcm):
    _device(cast.carol, "busy-carol-phone", frozen_clock.now())
    say(cast.anna, cast.team, "She fell")
    drain()
    n = Notification.objects.get(channel="push")
    assert (n.status, n.attempts, n.last_error) == ("pending", 1, "UNAVAILABLE")
    assert n.next_attempt_at == frozen_clock.now() + backoff(1)
    assert len(fcm.requests) == 1  # no hidden in-call retries: the outbox owns them
    sender = PushSender()
    assert sender.run_once(frozen_clock.now()) == 0  # not due yet
    for attempt in range(2, MAX_ATTEMPTS + 1):
        frozen_clock.advance(backoff(attempt - 1))
        assert sender.run_once(frozen_clock.now()) == 1
        n.refresh_from_db()
        assert n.attempts == attempt
    assert n.status == "failed"
    assert n.next_attempt_at is None
    assert len(fcm.requests) == MAX_ATTEMPTS
    assert backoff(1) == dt.timedelta(seconds=30)
    assert backoff(20) == dt.timedelta(hours=1)


def test_unregistered_token_disables_the_device_and_stops_sending(cast, frozen_clock, fcm):
    gone = _device(cast.carol, "gone-carol-old-phone", frozen_clock.now())
    ok = _device(cast.carol, "ok-carol-new-phone", frozen_clock.now())
    say(cast.anna, cast.team, "She fell")
    drain()
    gone.refresh_from_db()
    ok.refresh_from_db()
    assert (gone.active, gone.disabled_reason) == (False, "push: UNREGISTERED")
    assert ok.active
    statuses = dict(Notification.objects.filter(channel="push").values_list("device_id", "status"))
    assert statuses == {gone.id: "device_disabled", ok.id: "sent"}
    # The next step only pushes to the live device.
    say(cast.anna, cast.team, "Very confused now")
    drain()
    assert Notification.objects.filter(device=gone).count() == 1
    assert Notification.objects.filter(device=ok).count() == 2


def test_outbox_backend_records_without_any_network(cast, frozen_clock):
    assert get_config().push_backend == "outbox"
    _device(cast.carol, "ok-carol-phone", frozen_clock.now())
    say(cast.anna, cast.team, "She fell")
    drain()
    assert Notification.objects.get(channel="push").status == "recorded"
