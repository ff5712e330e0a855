"""Session authentication for websockets, off the shared sync thread.

Channels' ``AuthMiddleware`` loads the session and user with a thread-sensitive
``database_sync_to_async``: every handshake of a process queues on one thread, so a
reconnect storm (all clients of a restarted process at once) stalls behind it. Same
logic (``channels.auth.get_user``), run on the thread pool.
"""

from __future__ import annotations

from channels.auth import AuthMiddleware, get_user
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware

_get_user = database_sync_to_async(get_user.func, thread_sensitive=False)


class PooledAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await _get_user(scope)


def auth_stack(inner):
    """Cookie → session → user, as ``channels.auth.AuthMiddlewareStack``."""
    return CookieMiddleware(SessionMiddleware(PooledAuthMiddleware(inner)))
