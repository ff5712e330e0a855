"""A small synchronous Matrix client-server caller for the appservice.

matrix-nio builds the requests (``nio.Api`` — paths, percent-encoding, bodies); this
module sends them with the AS token in the ``Authorization`` header (nio puts tokens in
the query string) and adds ``user_id=`` to act as a puppet (appservice masquerading, which
nio does not support). Errors are split into *unavailable* (transport errors, 5xx, 429:
retry later, nothing is lost) and *refused* (other 4xx: the homeserver said no).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from nio import Api, RoomPreset

from bridge.conf import BridgeConfig


class MatrixUnavailable(Exception):
    """The homeserver could not be reached or asked us to come back later.

    ``status`` is None for a transport error (the homeserver itself is down) and the HTTP
    status for a 5xx/429 answer (it is up, but this request failed: e.g. a remote server
    it had to ask was unreachable).
    """

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


class MatrixRefused(Exception):
    def __init__(self, status: int, errcode: str, error: str = ""):
        super().__init__(f"{status} {errcode} {error}".strip())
        self.status = status
        self.errcode = errcode


def _masquerade(path: str, user_id: str | None) -> str:
    """Drop nio's access_token query parameter; add ``user_id`` when acting as a puppet."""
    parts = urlsplit(path)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "access_token"
    ]
    if user_id:
        query.append(("user_id", user_id))
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


class MatrixClient:
    def __init__(self, cfg: BridgeConfig, http: httpx.Client | None = None):
        self.cfg = cfg
        self.http = http or httpx.Client(
            base_url=cfg.homeserver_url,
            timeout=cfg.http_timeout,
            headers={"Authorization": f"Bearer {cfg.as_token}"},
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, body: Any = None, *, as_user: str | None = None
    ) -> dict[str, Any]:
        url = _masquerade(path, as_user)
        content = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        try:
            r = self.http.request(
                method, url, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise MatrixUnavailable(type(exc).__name__) from None
        if r.status_code >= 500 or r.status_code == 429:
            raise MatrixUnavailable(f"HTTP {r.status_code}", status=r.status_code)
        try:
            data = r.json()
        except ValueError:
            data = {}
        if r.status_code >= 400:
            raise MatrixRefused(
                r.status_code,
                str(data.get("errcode", "M_UNKNOWN"))[:60],
                str(data.get("error", ""))[:200],
            )
        return data

    # --- operations (each a thin wrapper over an nio.Api request) ---

    def register_puppet(self, localpart: str) -> None:
        """Register via the appservice login type; an existing user is fine (idempotent)."""
        body = {"type": "m.login.application_service", "username": localpart, "inhibit_login": True}
        try:
            self.call("POST", "/_matrix/client/v3/register", body)
        except MatrixRefused as exc:
            if exc.errcode != "M_USER_IN_USE":
                raise

    def set_display_name(self, user_id: str, name: str) -> None:
        method, path, data = Api.profile_set_displayname("", user_id, name)
        self.call(method, path, data, as_user=user_id)

    def create_room(
        self, *, alias_localpart: str, name: str, invite: list[str], power_users: dict[str, int]
    ) -> str:
        """Create the private mirror room, idempotently through its reserved alias."""
        initial_state = [
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
            {
                "type": "m.room.guest_access",
                "state_key": "",
                "content": {"guest_access": "forbidden"},
            },
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "joined"},
            },
        ]
        # The creator (our bot) holds full power already; newer room versions refuse it here.
        power = {
            "users": dict(power_users),
            "users_default": 0,
            "events_default": 0,
            "state_default": 100,
            "invite": 100,
            "kick": 100,
            "ban": 100,
            "redact": 50,
        }
        method, path, data = Api.room_create(
            "",
            alias=alias_localpart,
            name=name,
            preset=RoomPreset.private_chat,
            invite=invite,
            initial_state=initial_state,
            power_level_override=power,
        )
        try:
            return self.call(method, path, data)["room_id"]
        except MatrixRefused as exc:
            if exc.errcode != "M_ROOM_IN_USE":
                raise
        alias = f"#{alias_localpart}:{self.cfg.server_name}"
        method, path = Api.room_resolve_alias(alias)
        return self.call(method, path)["room_id"]

    def membership(self, room_id: str, user_id: str) -> str | None:
        """The user's membership in the room as the bridge bot sees it (None: never)."""
        method, path = Api.room_get_state_event("", room_id, "m.room.member", user_id)
        try:
            return self.call(method, path).get("membership")
        except MatrixRefused as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise

    def invite(self, room_id: str, user_id: str) -> str:
        """Invite; returns the membership reached ("invite", or "join" if already in).

        ``M_FORBIDDEN`` is success only when the user is in fact invited or joined already
        (checked, not assumed): a ban, a server ACL or a lost power level stay refusals.
        """
        method, path, data = Api.room_invite("", room_id, user_id)
        try:
            self.call(method, path, data)
            return "invite"
        except MatrixRefused as exc:
            if exc.errcode != "M_FORBIDDEN":
                raise
            state = self.membership(room_id, user_id)
            if state in ("invite", "join"):
                return state
            raise

    def join(self, room_id: str, user_id: str) -> None:
        method, path = Api.join("", room_id)
        self.call(method, path, {}, as_user=user_id)

    def kick(self, room_id: str, user_id: str, reason: str) -> None:
        """Kick; ``M_FORBIDDEN`` is success only when the user is not in the room (checked)."""
        method, path, data = Api.room_kick("", room_id, user_id, reason)
        try:
            self.call(method, path, data)
        except MatrixRefused as exc:
            if exc.errcode != "M_FORBIDDEN":
                raise
            if self.membership(room_id, user_id) in ("invite", "join", "knock"):
                raise

    def send(
        self, room_id: str, event_type: str, content: dict, txn_id: str, as_user: str | None = None
    ) -> str:
        method, path, data = Api.room_send("", room_id, event_type, content, txn_id)
        return self.call(method, path, data, as_user=as_user)["event_id"]

    def redact(
        self,
        room_id: str,
        event_id: str,
        txn_id: str,
        as_user: str | None = None,
        reason: str | None = None,
    ) -> str:
        method, path, data = Api.room_redact("", room_id, event_id, txn_id, reason=reason)
        return self.call(method, path, data, as_user=as_user)["event_id"]

    def recent_events(
        self, room_id: str, limit: int = 100, start: str | None = None
    ) -> tuple[list[dict], str | None]:
        """One page of the room timeline, newest first, as the bridge bot sees it."""
        method, path = Api.room_messages("", room_id, start=start, limit=limit)
        data = self.call(method, path)
        return data.get("chunk", []), data.get("end")

    # --- media (bridge.media) ---

    def upload(
        self, data: bytes, content_type: str, filename: str, as_user: str | None = None
    ) -> str:
        """Upload to the media repository; returns the ``mxc://`` URI."""
        url = _masquerade(f"/_matrix/media/v3/upload?{urlencode({'filename': filename})}", as_user)
        try:
            r = self.http.post(url, content=data, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise MatrixUnavailable(type(exc).__name__) from None
        return str(self._answer(r)["content_uri"])

    def download(self, mxc_uri: str, max_bytes: int) -> bytes:
        """Fetch a ``mxc://server/media_id`` through the authenticated media endpoint
        (Synapse >= 1.120 refuses unauthenticated downloads of new media). Refuses, without
        reading on, anything larger than ``max_bytes`` (``MatrixRefused`` M_TOO_LARGE)."""
        m = re.fullmatch(r"mxc://([A-Za-z0-9.:\-\[\]]+)/([A-Za-z0-9_\-]+)", mxc_uri)
        if m is None:
            raise MatrixRefused(400, "M_INVALID_PARAM", "not an mxc URI")
        path = f"/_matrix/client/v1/media/download/{m.group(1)}/{m.group(2)}"
        try:
            with self.http.stream("GET", path) as r:
                if r.status_code >= 400:
                    r.read()
                    self._answer(r)
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MatrixRefused(413, "M_TOO_LARGE", f"over {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise MatrixUnavailable(type(exc).__name__) from None

    @staticmethod
    def _answer(r: httpx.Response) -> dict[str, Any]:
        if r.status_code >= 500 or r.status_code == 429:
            raise MatrixUnavailable(f"HTTP {r.status_code}", status=r.status_code)
        try:
            data = r.json()
        except ValueError:
            data = {}
        if r.status_code >= 400:
            raise MatrixRefused(
                r.status_code,
                str(data.get("errcode", "M_UNKNOWN"))[:60],
                str(data.get("error", ""))[:200],
            )
        return data
