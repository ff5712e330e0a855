"""Typed reader for the environment.

Every setting the code reads comes from here, as ``COCARE_*`` environment variables,
validated by pydantic. ``docker-compose.yml`` is checked against ``Config.model_fields``
by a test, so a variable the compose file sets that the code does not read fails CI.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent

# Public (it is in this repository): fine for the demo and tests, refused in production.
DEV_SECRET_KEY = "dev-insecure-" + "x" * 50
MIN_SECRET_CHARS = 50
MIN_CHANNEL_KEY_CHARS = 32


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign production sessions, or None when it can.

    Refused: the public development key (or any ``*-insecure-*`` key), fewer than
    ``MIN_SECRET_CHARS`` characters, or fewer than 5 distinct characters (Django's
    security.W009 rule).
    """
    if key == DEV_SECRET_KEY or "insecure-" in key:
        return "is the public development key"
    if len(key) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    if len(set(key)) < 5:
        return "has fewer than 5 distinct characters"
    return None


def production_secret_problems(cfg: Config) -> list[str]:
    """What stops ``cfg`` running in production (empty when nothing does).

    The secret key signs sessions and CSRF tokens, keys the rate-limit hashes and, unless
    ``channel_encryption_key`` is set, the channel-layer encryption key: none of them may
    be derivable from a public value.
    """
    problems = []
    if problem := secret_key_problem(cfg.secret_key):
        problems.append(f"COCARE_SECRET_KEY {problem}")
    key = cfg.channel_encryption_key
    if key is not None and len(key) < MIN_CHANNEL_KEY_CHARS:
        problems.append(
            f"COCARE_CHANNEL_ENCRYPTION_KEY is shorter than {MIN_CHANNEL_KEY_CHARS} characters"
        )
    return problems


class Config(BaseSettings):
    # hide_input_in_errors: a bad value must not print the other variables (tokens, the
    # database password) into a start-up log.
    model_config = SettingsConfigDict(
        env_prefix="COCARE_", extra="ignore", hide_input_in_errors=True
    )

    # Core
    production: bool = False
    # Off by default: the demo and tests behave as production (the app's own error pages,
    # no URL list, no tracebacks). A developer opts in with COCARE_DEBUG=true.
    debug: bool = False
    secret_key: str = DEV_SECRET_KEY
    allowed_hosts: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"])
    # Origins allowed to open websockets / post forms (scheme://host[:port]).
    trusted_origins: list[str] = Field(default_factory=list)
    database_url: str = f"sqlite:///{BASE_DIR / 'var' / 'cocare.sqlite3'}"
    # A read replica for the dashboards' figures (web/dashboards/replica.py); unset: none.
    replica_database_url: str = ""
    # Unset: in-memory channel layer (single process, the demo default).
    redis_url: str | None = None
    # Key prefix on Redis: separate deployments (or concurrent test runs) sharing one Redis.
    redis_prefix: str = "asgi"
    # Suffix of the test database name, so concurrent test runs do not share one.
    test_db: str = "main"
    # Key material for channels-redis symmetric encryption; defaults to a key derived
    # from secret_key (so, in production, from a real secret) so nothing crosses Redis in
    # clear text.
    channel_encryption_key: str | None = None
    # Run bot / escalation / bridge workers inside the web process (demo only).
    inprocess_workers: bool = False
    # How often durable log consumers poll when no poke arrives.
    worker_poll_seconds: float = 2.0
    log_level: str = "INFO"
    # Seconds a database connection is kept for reuse (Django CONN_MAX_AGE); 0 opens one
    # per request / per websocket frame. bench/fanout.py measures the difference.
    db_conn_max_age: int = Field(default=0, ge=0)

    # Limits
    max_message_chars: int = 8000
    max_frame_bytes: int = 32_768
    # Rate limits (rooms/ratelimit.py, docs/security.md); 0 turns one off.
    rate_limit_sends: int = Field(default=300, ge=0)  # per person per minute
    rate_limit_invites: int = Field(default=60, ge=0)  # members added per manager per hour
    rate_limit_login_failures: int = Field(default=10, ge=0)  # per username per 5 minutes
    rate_limit_sensor_batches: int = Field(default=120, ge=0)  # per sensor hub per minute

    # Matrix bridge (off unless homeserver_url is set)
    matrix_homeserver_url: str | None = None
    matrix_server_name: str | None = None
    matrix_as_token: str | None = None
    matrix_hs_token: str | None = None
    matrix_puppet_prefix: str = "cocare_"
    matrix_bot_localpart: str = "cocare_bridge"
    # Cap of the bridge's retry backoff while the homeserver is unreachable.
    matrix_retry_max_seconds: float = 30.0
    # Our appservice endpoint as the homeserver reaches it (written into the registration).
    matrix_appservice_url: str | None = None

    # Bots (docs/bots.md)
    # An unanswered wellbeing question expires quietly after this long.
    bots_question_ttl_minutes: int = 120
    # The family-voice question stays open this long.
    bots_family_voice_ttl_hours: int = 72
    # A planned visit with no check-in by window end + grace is flagged as missed.
    bots_missed_visit_grace_minutes: int = 30

    # Attachments (rooms/attachments.py, docs/attachments.md). Local files under
    # attachments_dir unless s3_endpoint_url is set (SeaweedFS or any S3 API).
    attachment_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1)
    # Decoded size limit: a small file that expands to more pixels than this is refused.
    attachment_max_pixels: int = Field(default=60_000_000, ge=1)
    # Lifetime of the signed URL an access-checked request is redirected to.
    attachment_url_seconds: int = Field(default=120, ge=1, le=3600)
    attachments_dir: str = str(BASE_DIR / "var" / "attachments")
    s3_endpoint_url: str | None = None
    s3_bucket: str = "cocare-attachments"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    # The S3 address browsers reach (presigned URLs are signed for it), when it is not the
    # one the servers use (e.g. http://seaweedfs:8333 inside compose).
    s3_public_endpoint_url: str | None = None

    # Push notifications
    push_backend: str = "outbox"  # "outbox" (record only) or "fcm"
    fcm_credentials_file: str | None = None
    fcm_project_id: str | None = None
    # Overrides the FCM endpoint (tests point it at a loopback stub).
    fcm_endpoint: str | None = None


@lru_cache(maxsize=1)
def get_config() -> Config:
    return Config()
