"""The appservice registration the homeserver loads (``manage.py matrix_registration``)."""

from __future__ import annotations

import re
from typing import Any

from bridge.conf import BridgeConfig

REGISTRATION_ID = "cocare"


def registration(cfg: BridgeConfig, url: str) -> dict[str, Any]:
    """Exclusive namespaces for our puppets and room aliases; rate limits off for them."""
    prefix = re.escape(cfg.puppet_prefix)
    server = re.escape(cfg.server_name)
    return {
        "id": REGISTRATION_ID,
        "url": url.rstrip("/"),
        "as_token": cfg.as_token,
        "hs_token": cfg.hs_token,
        "sender_localpart": cfg.bot_localpart,
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@{prefix}.*:{server}"}],
            "aliases": [{"exclusive": True, "regex": f"#{prefix}.*:{server}"}],
            "rooms": [],
        },
        "rate_limited": False,
        "receive_ephemeral": False,
    }
