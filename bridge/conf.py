"""The bridge's configuration, as one immutable value passed to every component.

Built from ``cocare_chat.config`` (``COCARE_MATRIX_*``) in production; tests build it
directly, so nothing reads the environment behind a test's back.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from cocare_chat.config import Config, get_config


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    homeserver_url: str = Field(min_length=1)
    server_name: str = Field(min_length=1)
    as_token: str = Field(min_length=16)
    hs_token: str = Field(min_length=16)
    puppet_prefix: str = "cocare_"
    bot_localpart: str = "cocare_bridge"
    # Backoff while the homeserver is unreachable: 1 s doubling, capped here.
    retry_max_seconds: float = 30.0
    # A homeserver refusal (4xx) is retried this often, then the entry is recorded failed.
    max_attempts: int = 5
    # Membership is reconciled incrementally; this slow full check catches the rest.
    reconcile_full_seconds: float = 300.0
    http_timeout: float = 20.0

    @property
    def bot_user_id(self) -> str:
        return f"@{self.bot_localpart}:{self.server_name}"

    def puppet_user_id(self, person_id: int) -> str:
        return f"@{self.puppet_prefix}{person_id}:{self.server_name}"

    def room_alias_localpart(self, room_id: int) -> str:
        return f"{self.puppet_prefix}room_{room_id}"

    def is_ours(self, user_id: str) -> bool:
        """True for our puppets and our bot: their events are echoes, never new input."""
        pattern = rf"@{re.escape(self.puppet_prefix)}.*:{re.escape(self.server_name)}"
        return user_id == self.bot_user_id or re.fullmatch(pattern, user_id) is not None

    @classmethod
    def from_config(cls, cfg: Config) -> BridgeConfig | None:
        """None when the bridge is off (no homeserver configured)."""
        if not cfg.matrix_homeserver_url:
            return None
        missing = [
            n
            for n in ("matrix_server_name", "matrix_as_token", "matrix_hs_token")
            if not getattr(cfg, n)
        ]
        if missing:
            raise ValueError(
                "Matrix bridge needs " + ", ".join(f"COCARE_{m.upper()}" for m in missing)
            )
        return cls(
            homeserver_url=cfg.matrix_homeserver_url.rstrip("/"),
            server_name=cfg.matrix_server_name,
            as_token=cfg.matrix_as_token,
            hs_token=cfg.matrix_hs_token,
            puppet_prefix=cfg.matrix_puppet_prefix,
            bot_localpart=cfg.matrix_bot_localpart,
            retry_max_seconds=cfg.matrix_retry_max_seconds,
        )


def load() -> BridgeConfig | None:
    return BridgeConfig.from_config(get_config())
