"""Sign-in limits, applied where every sign-in form ends up: ``authenticate()``.

``LimitedModelBackend`` is the project's authentication backend (settings
``AUTHENTICATION_BACKENDS``). For a password attempt that comes with a request it

1. reserves one failure slot per client address and one per account *before* the
   password is checked (``rooms.ratelimit.hit``; several attempts in flight at once cannot
   slip past the limit), refusing with ``PermissionDenied`` when either is full and
   marking the request so ``rooms.ratelimit.LoginRateLimitMiddleware`` answers 429;
2. checks the password exactly as Django's ``ModelBackend`` does;
3. gives both slots back when the password was right: only failures count, so a care
   worker signing in on several phones is never locked out.

The account is keyed on its *normalised identity* — NFKC then case-folded, the same
normalisation Django's sign-in forms apply before the lookup — so a look-alike spelling
(a fullwidth letter, another case) counts against the account it would sign in to. The
address is the client's (``REMOTE_ADDR``; behind the production proxy Daphne's
``--proxy-headers`` puts the client there); an IPv6 client is keyed on its /64, which one
subscriber usually holds whole. Keys reach the cache only as HMACs (rooms/ratelimit.py).
"""

from __future__ import annotations

import ipaddress
import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from cocare_chat import clock
from rooms import ratelimit
from rooms.errors import RateLimited


def normalised_identity(username: str) -> str:
    """The account a username signs in to, for counting: NFKC, case-folded, trimmed."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def client_address(request) -> str:
    """The client's address for the per-address limit (IPv6: its /64 network)."""
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LimitedModelBackend(ModelBackend):
    """Django's ModelBackend behind the sign-in limits (see the module docstring).

    A wrong password raises ``PermissionDenied`` rather than returning None: that ends the
    backend chain, so the plain ModelBackend listed after this one (kept for sessions it
    created) never checks the same password a second time.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        username = unicodedata.normalize("NFKC", str(username))
        held = _reserve(request, username) if request is not None else []
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        for scope, key, at in held:
            ratelimit.release(scope, key, at)
        return user


def _reserve(request, username: str) -> list[tuple[str, str, object]]:
    """Take one slot per address and per account; refuse (and mark the request) if full."""
    now = clock.now()
    held: list[tuple[str, str, object]] = []
    try:
        for scope, key in (
            ("login_ip", client_address(request)),
            ("login_user", normalised_identity(username)),
        ):
            ratelimit.hit(scope, key, now)
            held.append((scope, key, now))
    except RateLimited as exc:
        # A refused attempt is not a failure: give back what it took before refusing.
        for scope, key, at in held:
            ratelimit.release(scope, key, at)
        setattr(request, ratelimit.SIGNIN_LIMITED, exc)
        raise PermissionDenied from exc
    return held
