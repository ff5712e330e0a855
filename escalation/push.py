"""Push delivery backends. The ONLY module that imports firebase_admin (DESIGN.md §6).

- ``outbox`` (default): nothing leaves the machine; the row is marked ``recorded``.
- ``fcm``: firebase-admin ``messaging.send`` with the service account in
  ``COCARE_FCM_CREDENTIALS_FILE``. ``COCARE_FCM_ENDPOINT`` overrides the FCM base URL
  (tests point it at a loopback stub; the OAuth token exchange goes to the key's
  ``token_uri``).

The library's own in-call retries are turned off for the FCM endpoint: retries belong to
the outbox (backoff in columns), so a slow FCM never blocks the worker for seconds.

The payload is always an opaque notification id and generic text — never the concern or
any message content. A message push names only the room ("New message in Peggy's family
room", :class:`RoomPush`); an alert push names nothing. The text is in the recipient's
language (``Person.language``), chosen when the push is built: the phone shows it as sent.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import firebase_admin
import requests
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from firebase_admin import credentials, exceptions, messaging

from cocare_chat.config import get_config

GENERIC_TITLE = "CoCare"
GENERIC_BODY = gettext_noop("You have a new alert in CoCare")
APP_NAME = "cocare-push"

_lock = threading.Lock()
_app: firebase_admin.App | None = None


@dataclass(frozen=True)
class PushResult:
    ok: bool
    code: str = ""  # error code only, e.g. UNREGISTERED, UNAVAILABLE
    permanent: bool = False  # the token is dead: disable the device
    provider_id: str = ""


@dataclass(frozen=True)
class RoomPush:
    """A push about a new message: the room it is in, never what was said or by whom."""

    service_user_id: int
    service_user_name: str
    family: bool
    language: str = settings.LANGUAGE_CODE  # the recipient's (Person.language)

    @property
    def body(self) -> str:
        with translation.override(self.language):
            text = (
                gettext("New message in %(name)s's family room")
                if self.family
                else gettext("New message in %(name)s's team room")
            )
        return text % {"name": self.service_user_name}

    @property
    def url(self) -> str:
        return f"/people/{self.service_user_id}/{'family' if self.family else 'team'}/"


def payload_for(notification_id: int, room: RoomPush | None = None) -> dict[str, str]:
    """The data fields of a push: an opaque id, and for a message the room's generic line.

    The service worker (web/static/web/sw.js) shows ``title``/``body`` and opens ``url``.
    """
    if room is None:
        return {"notification": str(notification_id), "kind": "alert"}
    return {
        "notification": str(notification_id),
        "kind": "message",
        "title": GENERIC_TITLE,
        "body": room.body,
        "url": room.url,
        "tag": room.url,
    }


def alert_body(language: str = settings.LANGUAGE_CODE) -> str:
    """The one line an alert push says, in the recipient's language; names nothing."""
    with translation.override(language):
        return gettext(GENERIC_BODY)


def send(
    token: str,
    notification_id: int,
    room: RoomPush | None = None,
    language: str = settings.LANGUAGE_CODE,
) -> PushResult:
    """Send one push; ``language`` is the recipient's, for an alert's line (a message's
    line is in ``room``)."""
    backend = get_config().push_backend
    if backend == "outbox":
        return PushResult(ok=True, code="recorded")
    if backend == "fcm":
        return _send_fcm(token, notification_id, room, language)
    return PushResult(ok=False, code="unknown_backend")


def reset_app() -> None:
    """Drop the cached firebase app (configuration changed; tests)."""
    global _app
    with _lock:
        if _app is not None:
            firebase_admin.delete_app(_app)
            _app = None


def _fcm_app() -> firebase_admin.App:
    global _app
    with _lock:
        if _app is None:
            cfg = get_config()
            if not cfg.fcm_credentials_file:
                raise RuntimeError("COCARE_FCM_CREDENTIALS_FILE is not set")
            info = json.loads(Path(cfg.fcm_credentials_file).read_text(encoding="utf-8"))
            options = {"httpTimeout": 10}
            if cfg.fcm_project_id:
                options["projectId"] = cfg.fcm_project_id
            app = firebase_admin.initialize_app(
                credentials.Certificate(info), options, name=APP_NAME
            )
            if cfg.fcm_endpoint:
                _point_at(app, cfg.fcm_endpoint)
            _app = app
        return _app


def _point_at(app: firebase_admin.App, endpoint: str) -> None:
    """Send to ``endpoint`` instead of fcm.googleapis.com, with library retries off."""
    service = messaging._get_messaging_service(app)
    base = endpoint.rstrip("/")
    service._fcm_url = f"{base}/v1/projects/{service._project_id}/messages:send"
    service._client.session.mount(base, requests.adapters.HTTPAdapter(max_retries=0))


PERMANENT = (messaging.UnregisteredError, messaging.SenderIdMismatchError)


def _send_fcm(
    token: str,
    notification_id: int,
    room: RoomPush | None = None,
    language: str = settings.LANGUAGE_CODE,
) -> PushResult:
    with warnings.catch_warnings():
        # Devices register FCM registration tokens (the v1 API's ``token`` target); the
        # library's suggested ``fid`` is a different identifier (installation ids).
        warnings.simplefilter("ignore", DeprecationWarning)
        message = messaging.Message(
            token=token,
            data=payload_for(notification_id, room),
            notification=messaging.Notification(
                title=GENERIC_TITLE, body=room.body if room else alert_body(language)
            ),
        )
    try:
        name = messaging.send(message, app=_fcm_app())
    except PERMANENT as exc:
        return PushResult(ok=False, code=_code(exc), permanent=True)
    except exceptions.InvalidArgumentError as exc:
        # Our payload is fixed, so an invalid argument is the registration token.
        return PushResult(ok=False, code=_code(exc), permanent=True)
    except exceptions.FirebaseError as exc:
        return PushResult(ok=False, code=_code(exc))
    except (requests.RequestException, OSError) as exc:
        return PushResult(ok=False, code=type(exc).__name__[:60])
    return PushResult(ok=True, provider_id=str(name)[:200])


def _code(exc: exceptions.FirebaseError) -> str:
    if isinstance(exc, messaging.UnregisteredError):
        return "UNREGISTERED"
    if isinstance(exc, messaging.SenderIdMismatchError):
        return "SENDER_ID_MISMATCH"
    return str(getattr(exc, "code", "") or type(exc).__name__)[:60]
