"""Django settings, read from the environment through :mod:`cocare_chat.config`.

Embedded defaults (no environment): SQLite in ``var/`` and the in-memory channel layer.
Production: ``COCARE_PRODUCTION=true``, ``COCARE_DATABASE_URL=postgres://...`` and
``COCARE_REDIS_URL=redis://...``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cocare_chat.config import BASE_DIR, get_config, production_secret_problems

CFG = get_config()

# Production refuses to start with the public development key or a weak secret; `manage.py
# check --deploy` reports the same rule outside production (cocare_chat/checks.py).
if CFG.production and (_problems := production_secret_problems(CFG)):
    raise ImproperlyConfigured(
        "; ".join(_problems) + ". Production needs a long random secret, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'."
    )

SECRET_KEY = CFG.secret_key
DEBUG = CFG.debug and not CFG.production
ALLOWED_HOSTS = CFG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CFG.trusted_origins

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rooms",
    "bots",
    "escalation",
    "careplan",
    "sensors",
    "web",
    "web.dashboards.apps.DashboardsConfig",
    "bridge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cocare_chat.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.language.PersonLanguageMiddleware",
    "rooms.ratelimit.LoginRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cocare_chat.urls"
ASGI_APPLICATION = "cocare_chat.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Persistent connections are opt-in (COCARE_DB_CONN_MAX_AGE); see docs/performance.md.
_db = dj_database_url.parse(
    CFG.database_url, conn_max_age=CFG.db_conn_max_age, conn_health_checks=CFG.db_conn_max_age > 0
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    _db["OPTIONS"] = {
        # IMMEDIATE: writers take the write lock at BEGIN, so two writers queue on the
        # busy timeout instead of failing with "database is locked" on lock upgrade.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so Daphne subprocesses started by tests see the test data.
    _db["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{CFG.test_db}.sqlite3")}
else:
    _db["TEST"] = {"NAME": f"test_cocare_{CFG.test_db}"}
DATABASES = {"default": _db}
# Dashboards' figures on a read replica (web/dashboards/replica.py): only set when
# COCARE_REPLICA_DATABASE_URL is; in tests the replica mirrors the test database.
if CFG.replica_database_url:
    DATABASES["replica"] = dj_database_url.parse(
        CFG.replica_database_url,
        conn_max_age=CFG.db_conn_max_age,
        conn_health_checks=CFG.db_conn_max_age > 0,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["web.dashboards.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if CFG.redis_url:
    # Derived from the secret key unless set. In production the secret key is a real secret
    # (cocare_chat.config refuses the public development key), so the derived key is too.
    _key = (
        CFG.channel_encryption_key
        or base64.urlsafe_b64encode(
            hashlib.sha256(("channels:" + SECRET_KEY).encode()).digest()
        ).decode()
    )
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same as
                # channels-redis's 5 s BZPOPMIN: under load the empty reply loses the race,
                # the receive raises TimeoutError and every socket waiting on it is closed
                # (seen in bench/fanout.py). The read timeout must exceed the block time.
                # redis-py 8's async pool refuses (MaxConnectionsError) past 100 connections
                # in use; a reconnect storm of a few hundred handshakes, each doing a
                # group_add, went past that (bench/resume.py). Redis allows 10,000 clients.
                "hosts": [
                    {"address": CFG.redis_url, "socket_timeout": 15, "max_connections": 2000}
                ],
                "prefix": CFG.redis_prefix,
                # Message bodies cross Redis only encrypted (DESIGN.md §3.9).
                "symmetric_encryption_keys": [_key],
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Rate-limit counters (rooms/ratelimit.py): shared on Redis across web processes.
if CFG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CFG.redis_url,
            "KEY_PREFIX": f"{CFG.redis_prefix}:cache",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sign-in goes through one backend that applies the sign-in limits (rooms/signin.py), so
# every form that authenticates — /login/, /admin/login/ — is limited the same way.
# ModelBackend stays listed only so sessions created through it stay valid; the limited
# backend answers every password attempt itself (a user or PermissionDenied), so
# ModelBackend.authenticate is never reached for one.
AUTHENTICATION_BACKENDS = [
    "rooms.signin.LimitedModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
# Each person's own choice (Person.language, web.language); catalogues in locale/.
LANGUAGES = [("en-gb", "English"), ("cy", "Cymraeg")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Browser libraries from npm, copied by scripts/vendor-static.sh (git-ignored). Always
# listed, and created here if absent, so files vendored after start-up are found too.
VENDOR_DIR = BASE_DIR / "web" / "vendor"
with contextlib.suppress(OSError):  # read-only image: the build step provides it
    VENDOR_DIR.mkdir(exist_ok=True)
STATICFILES_DIRS = [VENDOR_DIR]

# Attachments (rooms/attachments.py): local files by default, S3 (SeaweedFS in
# docker-compose and the services-phase tests) when COCARE_S3_ENDPOINT_URL is set.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "attachments": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "endpoint_url": CFG.s3_endpoint_url,
                "bucket_name": CFG.s3_bucket,
                "access_key": CFG.s3_access_key,
                "secret_key": CFG.s3_secret_key,
                "region_name": CFG.s3_region,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "querystring_expire": CFG.attachment_url_seconds,
                "file_overwrite": True,
                "default_acl": None,
            },
        }
        if CFG.s3_endpoint_url
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": CFG.attachments_dir},
        }
    ),
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

SESSION_COOKIE_HTTPONLY = True
# A signed-in session lasts a working day (a shift), not Django's two weeks.
SESSION_COOKIE_AGE = 12 * 3600
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

if CFG.production:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Health-check and loopback workers talk plain HTTP on the private network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^_matrix/"]

# Logs carry ids and event names only, never message bodies (DESIGN.md §3.9). Every
# handler carries the "safe" filter (cocare_chat/logsafe.py): tracebacks keep the exception
# type and frame locations, never the message (a database error quotes the statement's
# parameters). Django's own "django" and "django.server" handlers (a DEBUG console that
# prints full tracebacks, mail_admins) are replaced: their records come here instead.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"safe": {"()": "cocare_chat.logsafe.SafeRecords"}},
    "formatters": {
        "plain": {
            "()": "cocare_chat.logsafe.SafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["safe"]}
    },
    "root": {"handlers": ["console"], "level": CFG.log_level},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

# Durable workers, by name (manage.py run_workers NAME...). Dotted paths so that rooms
# never imports bots/escalation (DESIGN.md §2); each entry returns a worker or a list.
COCARE_WORKERS: dict[str, str] = {
    "bots": "bots.runner.make_workers",
    "bridge": "bridge.runner.make_workers",
    "escalation": "escalation.runner.make_workers",
    "careplan": "careplan.consumer.make_workers",
    "dashboards": "web.dashboards.rollup.make_workers",
    "sensors": "sensors.runner.make_workers",
    "retention": "rooms.retention.make_workers",
}

# Retention of the other apps' records (rooms/retention.py runs these per provider policy).
COCARE_RETENTION_PURGERS: list[str] = ["bots.retention.purge", "escalation.retention.purge"]

# Health checks, by name (manage.py health; rooms/health.py). Each app contributes its
# stuck timers; rooms checks the log consumers and recorded worker failures.
COCARE_HEALTH_CHECKS: dict[str, str] = {
    "rooms": "rooms.health.core_checks",
    "bots": "bots.health.checks",
    "escalation": "escalation.health.checks",
    "bridge": "bridge.health.checks",
    "dashboards": "web.dashboards.health.checks",
    "careplan": "careplan.health.checks",
}
