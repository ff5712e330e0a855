"""Fixed-window rate limits on Django's cache (login, invitations, message sends).

A limit is ``(count, window seconds)`` per scope and key (a person id, a username, an IP).
The counter lives in the cache (Redis in production, so all web processes share it;
per-process memory in the embedded default). Window boundaries are multiples of the
window since the epoch, computed from ``now`` (an argument; the clock seam by default).

Guarantees:
- over the limit, :func:`hit` raises ``RateLimited`` (code ``rate_limited``, HTTP 429) with
  the seconds until the window ends, and counts nothing further;
- the cache being unavailable (Redis restarting) fails *open*: sends and logins keep
  working — a rate limit must never take messaging down with it. It is logged by scope,
  never with the key's content.
- a limit of 0 turns the scope off.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse

from cocare_chat import clock
from cocare_chat.config import get_config
from rooms.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    count: int
    window: int  # seconds


def limit_for(scope: str) -> Limit:
    cfg = get_config()
    return {
        "send": Limit(cfg.rate_limit_sends, 60),
        "invite": Limit(cfg.rate_limit_invites, 3600),
        "login_user": Limit(cfg.rate_limit_login_failures, 300),
        "login_ip": Limit(cfg.rate_limit_login_failures * 5, 300),
        "sensor_hub": Limit(cfg.rate_limit_sensor_batches, 60),
    }[scope]


MESSAGES = {
    "send": "You are sending messages too fast",
    "invite": "Too many members added",
    "login_user": "Too many failed sign-ins for this account",
    "login_ip": "Too many failed sign-ins from this address",
    "sensor_hub": "Too many batches from this sensor hub",
}


def _key(scope: str, key: str | int, window: int, now: dt.datetime) -> tuple[str, int]:
    ts = int(now.timestamp())
    start = ts - ts % window
    return f"rl:{scope}:{key}:{start}", start + window - ts


def count(scope: str, key: str | int, now: dt.datetime | None = None) -> int:
    """Hits recorded in the current window (0 when the cache is unavailable)."""
    lim = limit_for(scope)
    k, _ = _key(scope, key, lim.window, now or clock.now())
    try:
        return int(cache.get(k, 0))
    except Exception as exc:
        log.warning("rate limit cache unavailable (%s): %s", scope, type(exc).__name__)
        return 0


def check(scope: str, key: str | int, now: dt.datetime | None = None) -> None:
    """Raise ``RateLimited`` if the window is already full; records nothing."""
    lim = limit_for(scope)
    if lim.count <= 0:
        return
    now = now or clock.now()
    _, retry = _key(scope, key, lim.window, now)
    if count(scope, key, now) >= lim.count:
        raise _limited(scope, retry)


def hit(scope: str, key: str | int, now: dt.datetime | None = None) -> int:
    """Record one hit; raise ``RateLimited`` when it is over the limit. Returns the count."""
    lim = limit_for(scope)
    if lim.count <= 0:
        return 0
    now = now or clock.now()
    k, retry = _key(scope, key, lim.window, now)
    try:
        cache.add(k, 0, timeout=lim.window + 1)
        n = cache.incr(k)
    except ValueError:  # expired between add and incr
        cache.set(k, 1, timeout=lim.window + 1)
        n = 1
    except Exception as exc:
        log.warning("rate limit cache unavailable (%s): %s", scope, type(exc).__name__)
        return 0
    if n > lim.count:
        raise _limited(scope, retry)
    return n


def _limited(scope: str, retry: int) -> RateLimited:
    exc = RateLimited(f"{MESSAGES[scope]}; try again in {retry} s.")
    exc.retry_after = retry
    return exc


def rate_limited_response(exc: RateLimited) -> JsonResponse:
    resp = JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status)
    resp["Retry-After"] = str(getattr(exc, "retry_after", 60))
    return resp


def _client_ip(request) -> str:
    # Behind the production proxy the peer is the proxy; Daphne's --proxy-headers puts the
    # client address in REMOTE_ADDR, so REMOTE_ADDR is the one to trust.
    return request.META.get("REMOTE_ADDR") or "unknown"


class LoginRateLimitMiddleware:
    """Limits failed sign-ins to ``settings.LOGIN_URL`` per username and per address.

    Only failures count (a successful sign-in answers a redirect): a care worker who signs
    in on several devices is never locked out, a password-guessing run is, with a 429 JSON
    body ``{"error": "rate_limited", "message": ...}``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or request.path != settings.LOGIN_URL:
            return self.get_response(request)
        username = (request.POST.get("username") or "").strip().lower()[:150]
        ip = _client_ip(request)
        try:
            check("login_user", username)
            check("login_ip", ip)
        except RateLimited as exc:
            return rate_limited_response(exc)
        response = self.get_response(request)
        if response.status_code != 302:
            try:
                hit("login_user", username)
                hit("login_ip", ip)
            except RateLimited:
                pass  # this failure is answered normally; the next attempt gets the 429
        return response
