"""Fixed-window rate limits on Django's cache (sign-in, invitations, message sends).

A limit is ``(count, window seconds)`` per scope and key (a person id, a normalised
username, a client address). The counter lives in the cache (Redis in production, so all
web processes share it; per-process memory in the embedded default). Window boundaries
are multiples of the window since the epoch, computed from ``now`` (an argument; the
clock seam by default).

Guarantees:
- over the limit, :func:`hit` raises ``RateLimited`` (code ``rate_limited``, HTTP 429) with
  the seconds until the window ends, and counts nothing further;
- the cache being unavailable (Redis restarting) fails *open*: sends and logins keep
  working — a rate limit must never take messaging down with it. It is logged by scope,
  never with the key's content.
- a limit of 0 turns the scope off;
- on Redis a hit is one round trip (``_count``: INCR, and EXPIRE on the hit that created
  the counter, in one script), so the send limit adds one round trip to a post;
- keys carry no username or address in clear text: each is an HMAC (key derived from
  ``SECRET_KEY``) of scope and key, so what sits on Redis cannot be read back or
  enumerated without the secret.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.connection import ConnectionProxy
from django.utils.crypto import salted_hmac

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
    digest = salted_hmac("cocare.ratelimit", f"{scope}:{key}", algorithm="sha256").hexdigest()
    return f"rl:{scope}:{digest[:32]}:{start}", start + window - ts


def hit(scope: str, key: str | int, now: dt.datetime | None = None) -> int:
    """Record one hit; raise ``RateLimited`` when it is over the limit. Returns the count."""
    lim = limit_for(scope)
    if lim.count <= 0:
        return 0
    now = now or clock.now()
    k, retry = _key(scope, key, lim.window, now)
    try:
        n = _count(k, lim.window + 1)
    except Exception as exc:
        log.warning("rate limit cache unavailable (%s): %s", scope, type(exc).__name__)
        return 0
    if n > lim.count:
        raise _limited(scope, retry)
    return n


# INCR, and on the hit that created the counter its expiry, atomically: what ``add`` +
# ``incr`` did in two round trips. INCR keeps an existing key's expiry.
_COUNT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_count_script: Any = None


def _count(k: str, timeout: int) -> int:
    """Add one to the counter ``k`` (created with ``timeout`` seconds to live); its new
    value. On Django's Redis cache: one round trip (a script, by its SHA once loaded),
    where ``add`` + ``incr`` were two, on every send. Any other cache: ``add`` + ``incr``."""
    global _count_script
    backend = caches[DEFAULT_CACHE_ALIAS] if isinstance(cache, ConnectionProxy) else cache
    if not isinstance(backend, RedisCache):
        try:
            cache.add(k, 0, timeout=timeout)
            return cache.incr(k)
        except ValueError:  # expired between add and incr
            cache.set(k, 1, timeout=timeout)
            return 1
    full_key = backend.make_and_validate_key(k)
    # Django's RedisCache keeps its redis-py client behind ``_cache`` (no public accessor).
    client = backend._cache.get_client(full_key, write=True)  # type: ignore[attr-defined]
    if _count_script is None:
        _count_script = client.register_script(_COUNT_LUA)
    return int(_count_script(keys=[full_key], args=[timeout], client=client))


def release(scope: str, key: str | int, now: dt.datetime) -> None:
    """Give back one hit recorded at ``now`` (same window): a sign-in reserves its slot
    before the password is checked and returns it when the password was right."""
    lim = limit_for(scope)
    if lim.count <= 0:
        return
    k, _ = _key(scope, key, lim.window, now)
    try:
        cache.decr(k)
    except ValueError:  # the window ended meanwhile: nothing to give back
        pass
    except Exception as exc:
        log.warning("rate limit cache unavailable (%s): %s", scope, type(exc).__name__)


def _limited(scope: str, retry: int) -> RateLimited:
    exc = RateLimited(f"{MESSAGES[scope]}; try again in {retry} s.")
    exc.retry_after = retry
    return exc


def rate_limited_response(exc: RateLimited) -> JsonResponse:
    resp = JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status)
    resp["Retry-After"] = str(getattr(exc, "retry_after", 60))
    return resp


# Set on the request by rooms.signin when it refused a sign-in over the limit.
SIGNIN_LIMITED = "cocare_signin_limited"


class LoginRateLimitMiddleware:
    """Answers 429 (with ``Retry-After``) for any sign-in the limits refused.

    The limits themselves live in the authentication backend (rooms/signin.py), so every
    form that calls ``authenticate()`` — /login/, /admin/login/ — is covered. The backend
    marks the request; this turns the form's "did not match" into a clear 429: JSON
    ``{"error": "rate_limited", "message": ...}`` unless the client prefers HTML (a
    browser), which gets the app's page saying when to try again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        exc = getattr(request, SIGNIN_LIMITED, None)
        if exc is None:
            return response
        if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
            retry = int(getattr(exc, "retry_after", 60))
            html = render_to_string(
                "429.html",
                {"minutes": max(1, -(-retry // 60)), "back": request.path},
                request=request,
            )
            resp = HttpResponse(html, status=exc.status)
            resp["Retry-After"] = str(retry)
            return resp
        return rate_limited_response(exc)
