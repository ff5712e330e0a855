"""Settings for bench/scaleout.py: the production settings with the channel layer sharded
over the Redis instances named in ``BENCH_LAYER_URLS`` (comma-separated).

channels-redis places each group on one shard by a consistent hash of its name and each
channel's queue by the hash of the channel, so a group_send touches the group's shard plus
the shards of the receiving processes.
"""

from __future__ import annotations

import os

from cocare_chat.settings import *  # noqa: F403
from cocare_chat.settings import CHANNEL_LAYERS

_urls = [u for u in os.environ.get("BENCH_LAYER_URLS", "").split(",") if u]
if _urls:
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": u, "socket_timeout": 15, "max_connections": 2000} for u in _urls
    ]
