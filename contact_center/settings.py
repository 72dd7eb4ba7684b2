"""Django settings, 12-factor through django-environ.

Every value comes from the environment (or a ``.env`` file beside
``manage.py``); ``.env.example`` lists them all. Without ``DATABASE_URL`` or
``REDIS_URL`` the embedded servers of :mod:`contact_center.embedded` are used.

Importing this module has no side effect: it computes where the embedded
servers' sockets are and starts nothing, creates nothing. The entry points
(``manage.py``, ``contact_center.asgi``, ``contact_center.celery``, the test
suite's ``conftest.py``) call :func:`contact_center.embedded.start`.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ENV_FILE (from the real environment only) names another file than .env; the real environment always wins over it.
environ.Env.read_env(env("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# After .env is read: it may set EMBEDDED_VAR_DIR, which the module reads on import.
from contact_center import embedded  # noqa: E402

# Fail closed: DEBUG is off unless the environment turns it on (`make run` and the tests do), and with DEBUG off
# the product refuses to start without a SECRET_KEY of its own. The key signs sessions, CSRF tokens and live-chat
# visitor tokens: with a published one anybody could forge them.
DEBUG = env.bool("DEBUG", default=False)
DEVELOPMENT_SECRET_KEY = "dev-insecure-secret-key-change-me-in-production-0123456789"  # noqa: S105 -- DEBUG only
# Keys printed in this repository (the old default, the old .env.example placeholder): never a key of one's own.
PUBLIC_SECRET_KEYS = frozenset({DEVELOPMENT_SECRET_KEY, "change-me-to-a-long-random-string"})
SECRET_KEY = env("SECRET_KEY", default="") or (DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY in PUBLIC_SECRET_KEYS):
    raise ImproperlyConfigured(
        ("SECRET_KEY is not set" if not SECRET_KEY else "SECRET_KEY is a public example value")
        + ", and DEBUG is off: the product needs a secret key of its own. Set SECRET_KEY in the environment "
        "(or in .env) to a long random value, generated once with "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))' and kept secret. "
        "For development on your own machine, set DEBUG=true instead (make run does)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Left at the default, pages build addresses from the request instead (contact_center.site_address).
SITE_URL_DEFAULT = "http://127.0.0.1:8000"
SITE_URL = env("SITE_URL", default=SITE_URL_DEFAULT).rstrip("/")

INSTALLED_APPS = [
    # Django's admin with the project's site: it opens by role, not by is_staff (contact_center.admin_site).
    "contact_center.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "import_export",
    "django_celery_beat",
    # Login throttling (per account and per address) and TOTP two-factor sign-in; see "Sign-in" below.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "channels_app",
    "crm",
    "kpi",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a sign-in refused for too many failures into a 429 (axes wants to be last; the guard below stays
    # innermost). Sync-only neighbours keep it on its sync path, which hands it the page to answer with.
    "axes.middleware.AxesMiddleware",
    # Innermost, so a view that lost the database answers 503 before any other middleware sees the error.
    "contact_center.errors.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "contact_center.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "contact_center.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------
# Without a URL, the embedded server of contact_center.embedded (started by contact_center.embedded.start()).
EMBEDDED_POSTGRES = not env("DATABASE_URL", default="")
EMBEDDED_REDIS = not env("REDIS_URL", default="")
DATABASES = {"default": embedded.postgres_settings() if EMBEDDED_POSTGRES else env.db("DATABASE_URL")}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
# DB_CONN_MAX_AGE wins over DATABASE_URL's own (absent = 0) value, so a worker can keep its connection.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=DATABASES["default"].get("CONN_MAX_AGE") or 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django turns psycopg's prepared statements off (a threshold of None). A threshold no query reaches by repetition
# keeps every query as it was and lets the hot-path statements run with prepare=True be prepared, once per
# connection (channels_app/engine/prepared.py, decision 0030).
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31)
# Web processes: a connection pool per process (DB_POOL_MAX_SIZE connections at most; 0 = no pool). Under ASGI
# CONN_MAX_AGE must stay 0, and Channels then closes the connection around every consumer database call, so
# without a pool every console heartbeat would open a new PostgreSQL backend. `manage.py serve` sets 20.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_POOL_MAX_SIZE needs DB_CONN_MAX_AGE=0: a pooled connection is never kept.")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        # Waiting longer for a connection than a client waits for an answer helps nobody; with PostgreSQL
        # down, requests and socket handshakes get their 503 after this many seconds.
        "timeout": 3,
        # psycopg_pool retries a lost connection with doubling delays for up to this long; after an outage of
        # 30 s the next try could be 16 s away. Giving up early lets the next request try again at once.
        "reconnect_timeout": 5,
    }
# Celery worker processes keep their connection this long between tasks (contact_center/celery.py); a broken
# one is replaced before the next task. CELERY_DB_REUSE_MAX only stops Celery's own close-after-every-task.
WORKER_DB_CONN_MAX_AGE = env.int("WORKER_DB_CONN_MAX_AGE", default=600)
CELERY_DB_REUSE_MAX = 2**62
# Several test runs may share one server: each can name its own test database.
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_contact_center")}

REDIS_URL = embedded.redis_socket_url() if EMBEDDED_REDIS else env("REDIS_URL")


def _celery_redis_url(url: str) -> str:
    # Kombu spells a unix-socket Redis as redis+socket://; redis-py as unix://.
    return "redis+socket://" + url[len("unix://") :] if url.startswith("unix://") else url


CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_celery_redis_url(REDIS_URL))
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One beat at a time: django-celery-beat's DatabaseScheduler behind a lock in Redis (contact_center.beat).
CELERY_BEAT_SCHEDULER = "contact_center.beat:SingleBeatScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
DJANGO_CELERY_BEAT_TZ_AWARE = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "contact_center.channel_layer.RedisEventsChannelLayer",
        "CONFIG": {
            # redis-py 8 caps a pool at 100 connections and fails the 101st command at once; hundreds of
            # consoles joining or leaving groups together (a reconnect storm) need more (bench/e2e.py).
            # It also times a read out after 5 s, exactly channels_redis's blocking-pop timeout: an answer a
            # little late (a busy CPU) raised in the consumer and closed the console socket; 15 s leaves slack.
            "hosts": [
                {
                    "address": REDIS_URL,
                    "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=2000),
                    "socket_timeout": 15,
                }
            ],
            "prefix": env("CHANNEL_LAYER_PREFIX", default="asgi"),
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="cc"),
    }
}

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# One sign-in page for everyone: operators land in the console, supervisors follow ?next= to /kpi/.
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# --- Sign-in: throttling and two-factor (console and admin login pages alike) ---------------------------------
# axes' backend comes first: it refuses a locked-out account or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Failed sign-ins are counted per username and, separately, per client address; either reaching its limit locks
# sign-in for that username (from anywhere) or from that address (for anyone) until the cool-off has passed.
# An address is often a whole office behind one NAT, hence its higher limit (channels_app.console.signin).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 1 or LOGIN_ADDRESS_FAILURE_LIMIT < LOGIN_FAILURE_LIMIT:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be whole numbers, at least 1, and "
        "LOGIN_ADDRESS_FAILURE_LIMIT at least LOGIN_FAILURE_LIMIT."
    )
AXES_HANDLER = "channels_app.console.signin.SignInThrottle"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The address is REMOTE_ADDR alone, never a header a client can write: uvicorn has already replaced it with the
# X-Forwarded-For address when, and only when, the request came from one of TRUSTED_PROXIES (`manage.py web`).
AXES_CLIENT_IP_CALLABLE = "channels_app.console.signin.client_address"
# The sign-in page itself says why and for how long (channels_app.console.signin), answered with 429.
AXES_LOCKOUT_CALLABLE = "channels_app.console.signin.lockout_response"
# A one-time code typed into a sign-in form is never written to axes' record of the failed attempt.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]
# Every wrong TOTP code counts as a failed sign-in (channels_app.console.signin), so axes is the one throttle and
# its message the one the user reads; django-otp's own per-device back-off would only add a second, silent one.
OTP_TOTP_THROTTLE_FACTOR = 0
# The issuer shown in authenticator apps next to the account name.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Open Channels contact center")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pl", "Polski"), ("vi", "Tiếng Việt")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"  # created by contact_center.embedded.start() (WhiteNoise wants it)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "/media/"
# Files of conversations (never served from here: /files/<id>/ checks the viewer and reads them through storage).
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
# "local": MEDIA_ROOT on this host's disk. "s3": a bucket of any S3-compatible store (AWS S3, MinIO, Ceph,
# Backblaze B2, Cloudflare R2…) through django-storages, so several hosts share the files. The bucket stays
# private: the web processes read files with these credentials; nobody gets a direct link.
FILE_STORAGE = env("FILE_STORAGE", default="local")
if FILE_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET"),
            "endpoint_url": env("S3_ENDPOINT_URL", default="") or None,
            "region_name": env("S3_REGION", default="") or None,
            "access_key": env("S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env("S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env("S3_PREFIX", default=""),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
elif FILE_STORAGE != "local":
    raise ImproperlyConfigured(f"FILE_STORAGE must be 'local' or 's3', not {FILE_STORAGE!r}.")
# Issue 19: how long an administrator may download a client's data export once it is ready; then it is deleted.
PRIVACY_EXPORT_LINK_HOURS = env.int("PRIVACY_EXPORT_LINK_HOURS", default=24)
# Issue 19: what erasing a client does to their CRM contact and leads. "anonymise": the rows stay (status, source,
# responsible person) without name, phone or e-mail; "delete": they are deleted.
PRIVACY_CRM_ON_ERASURE = env("PRIVACY_CRM_ON_ERASURE", default="anonymise")
if PRIVACY_CRM_ON_ERASURE not in ("anonymise", "delete"):
    raise ImproperlyConfigured(
        f"PRIVACY_CRM_ON_ERASURE must be 'anonymise' or 'delete', not {PRIVACY_CRM_ON_ERASURE!r}."
    )
# Issue 19: a provider's raw delivery (InboundUpdate: it names the client and quotes their text) is kept this many
# days once handled, long enough to recognise any retry (WhatsApp retries for up to 7 days), then deleted.
INBOUND_UPDATES_KEEP_DAYS = env.int("INBOUND_UPDATES_KEEP_DAYS", default=14)
if not 8 <= INBOUND_UPDATES_KEEP_DAYS <= 3650:
    raise ImproperlyConfigured(
        f"INBOUND_UPDATES_KEEP_DAYS must be between 8 and 3650 (a provider retries for up to 7 days), "
        f"not {INBOUND_UPDATES_KEEP_DAYS}."
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="contact-center@localhost")

# --- Security (production: DEBUG=false turns these on) -------------------------
# No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from anyone. uvicorn reads it (and
# X-Forwarded-For) from TRUSTED_PROXIES only and hands Django the corrected scheme and client address.
SECURE_PROXY_SSL_HEADER = None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Load balancers and Prometheus reach these over the internal network, often by plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # A service's refusal (channels_app.engine.errors.ServiceError) answers its 4xx with the message.
    "EXCEPTION_HANDLER": "contact_center.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Open Channels contact center API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "contact_center.openapi.document_error_responses",
    ],
}

# --- Product limits (O4, Q1). 0 means unlimited. ---------------------------------
MAX_OPEN_CHANNELS = env.int("MAX_OPEN_CHANNELS", default=0)
MAX_QUEUE_OPERATORS = env.int("MAX_QUEUE_OPERATORS", default=0)

# --- Input limits (hostile input; see tests/security). Bigger requests are refused with a 4xx. -----------
# Largest request body Django reads (webhooks answer 413 above it, forms and the API 400).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2_621_440)
# Largest file the server takes: a connector does not download a larger provider file (it fails with the reason),
# and no request body over it plus 1 MB reaches Django (413 at once: contact_center.body_limit).
MAX_ATTACHMENT_BYTES = env.int("MAX_ATTACHMENT_BYTES", default=20 * 1024 * 1024)
# Largest websocket frame uvicorn accepts (a console frame is at most ~17 kB); larger ones close with 1009.
WEBSOCKET_MAX_FRAME_BYTES = env.int("WEBSOCKET_MAX_FRAME_BYTES", default=65_536)


# --- The web process (`manage.py web`, and the web child of `manage.py serve`) ----------------------------------
def _networks(setting: str, values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{setting}: {value!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)."
            ) from None
    return values


# Addresses or networks of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed
# (uvicorn's --forwarded-allow-ips). Empty: nobody's, and the client address is the TCP peer's. Rate limits and
# sign-in throttling key on that address, so trust only proxies that overwrite the headers they forward.
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES", env.list("TRUSTED_PROXIES", default=[]))
# GET /metrics (Prometheus, contact_center.metrics) is closed unless one of these is set; with both set, a scrape
# needs both. METRICS_TOKEN: the secret Prometheus sends as "Authorization: Bearer <token>". METRICS_ALLOWED_NETWORKS:
# addresses or networks the scraper's REMOTE_ADDR must be in (the corrected one: see TRUSTED_PROXIES above).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS", env.list("METRICS_ALLOWED_NETWORKS", default=[]))
# uvicorn worker processes of one web process (each its own event loop and database pool).
WEB_WORKERS = env.int("WEB_WORKERS", default=1)
if WEB_WORKERS < 1:
    raise ImproperlyConfigured("WEB_WORKERS must be a whole number of worker processes, at least 1.")
# Seconds a stopping process may take (decision 0023): on SIGTERM the web process finishes its requests and
# sockets or abandons them after this (uvicorn's --timeout-graceful-shutdown), and `manage.py serve` kills
# whatever of its children (and their children) is still alive this long after asking it to stop.
SHUTDOWN_GRACE_SECONDS = env.int("SHUTDOWN_GRACE_SECONDS", default=10)
if SHUTDOWN_GRACE_SECONDS < 1:
    raise ImproperlyConfigured("SHUTDOWN_GRACE_SECONDS must be at least 1 second.")

# Provider API bases, overridable so tests talk to a local fake provider.
TELEGRAM_API_BASE = env("TELEGRAM_API_BASE", default="https://api.telegram.org")
META_GRAPH_API_BASE = env("META_GRAPH_API_BASE", default="https://graph.facebook.com/v21.0")
ZALO_API_BASE = env("ZALO_API_BASE", default="https://openapi.zalo.me")
# Where Zalo OA access tokens are refreshed (channels_app.connectors.zalo_tokens).
ZALO_OAUTH_BASE = env("ZALO_OAUTH_BASE", default="https://oauth.zaloapp.com")

# Outbound messages to messengers (issue 21): retried with exponential backoff for this many hours after their
# first attempt (never past Meta's 24-hour messaging window), then "failed".
CONNECTOR_SEND_RETRY_HOURS = env.float("CONNECTOR_SEND_RETRY_HOURS", default=24)
# A connector's circuit breaker: this many transport failures in a row (refused, timed out, HTTP 5xx) make it
# unreachable; replies then wait without calling the provider, and one is tried every so many seconds.
CONNECTOR_BREAKER_FAILURES = env.int("CONNECTOR_BREAKER_FAILURES", default=5)
CONNECTOR_BREAKER_PROBE_SECONDS = env.int("CONNECTOR_BREAKER_PROBE_SECONDS", default=30)
# How long a call to a provider's API may take before it counts as a transport failure.
CONNECTOR_HTTP_TIMEOUT_SECONDS = env.float("CONNECTOR_HTTP_TIMEOUT_SECONDS", default=10)
if CONNECTOR_SEND_RETRY_HOURS <= 0:
    raise ImproperlyConfigured("CONNECTOR_SEND_RETRY_HOURS must be more than 0 hours.")
if CONNECTOR_BREAKER_FAILURES < 1:
    raise ImproperlyConfigured("CONNECTOR_BREAKER_FAILURES must be at least 1 failure.")
if CONNECTOR_BREAKER_PROBE_SECONDS < 1:
    raise ImproperlyConfigured("CONNECTOR_BREAKER_PROBE_SECONDS must be at least 1 second.")
if CONNECTOR_HTTP_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured("CONNECTOR_HTTP_TIMEOUT_SECONDS must be more than 0 seconds.")

# Seconds a console socket may stay silent before it no longer counts as connected.
CONSOLE_HEARTBEAT_TIMEOUT = timedelta(seconds=env.int("CONSOLE_HEARTBEAT_TIMEOUT_SECONDS", default=90))

# B1: a chatbot that has not answered within its timeout plus this many seconds hands over.
CHATBOT_SILENCE_SECONDS = env.int("CHATBOT_SILENCE_SECONDS", default=120)

# S2: how many webhook deliveries a web process processes at once itself, right after answering, when they
# need no call to the provider (channels_app/webhooks.py). Beyond that they go to Celery, so a busy web process
# hands the overflow to the workers; 0 sends every update through Celery.
WEB_INBOUND_CONCURRENCY = env.int("WEB_INBOUND_CONCURRENCY", default=2)
if WEB_INBOUND_CONCURRENCY < 0:
    raise ImproperlyConfigured("WEB_INBOUND_CONCURRENCY must be 0 (always Celery) or more.")
# Backpressure on intake (decision 0023): with more tasks than this waiting in Celery's `inbound` queue, the webhook
# door still stores and answers every delivery but hands none to processing; the connector sweep catches up in
# order once the queue is shorter. 0 turns the check off.
INBOUND_QUEUE_LIMIT = env.int("INBOUND_QUEUE_LIMIT", default=500)
if INBOUND_QUEUE_LIMIT < 0:
    raise ImproperlyConfigured("INBOUND_QUEUE_LIMIT must be 0 (no limit) or more tasks.")

# K1: seconds between two runs of the task that records the response times of conversations with new messages
# (KPI figures lag by at most this). `migrate` writes it to the beat schedule (channels_app/periodic.py).
KPI_RECORD_INTERVAL_SECONDS = env.int("KPI_RECORD_INTERVAL_SECONDS", default=5)
if KPI_RECORD_INTERVAL_SECONDS < 1:
    raise ImproperlyConfigured("KPI_RECORD_INTERVAL_SECONDS must be a whole number of seconds, at least 1.")

# --- Secrets at rest and outbound calls (issue 13) ---
# Connector credentials (access tokens, app secrets) are stored Fernet-encrypted (channels_app.models.encryption)
# with a key of their own, not SECRET_KEY: rotating one never touches the other, and a database dump together with
# SECRET_KEY still reveals no credential. New values are encrypted with FIELD_ENCRYPTION_KEY; values encrypted with
# a key listed in FIELD_ENCRYPTION_KEY_FALLBACKS still decrypt until `manage.py reencrypt_secrets` has rewritten them.
# Generate a key: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
from cryptography.fernet import Fernet  # noqa: E402  (kept inside this block: it is its only user)

# Development and tests only (DEBUG on): this fixed, public key keeps a developer's database readable across runs.
# It protects nothing, so it is refused with DEBUG off.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "Y29udGFjdC1jZW50ZXItZGV2ZWxvcG1lbnQta2V5ISE="
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="") or (DEVELOPMENT_FIELD_ENCRYPTION_KEY if DEBUG else "")
FIELD_ENCRYPTION_KEY_FALLBACKS = env.list("FIELD_ENCRYPTION_KEY_FALLBACKS", default=[])
if not DEBUG and FIELD_ENCRYPTION_KEY in ("", DEVELOPMENT_FIELD_ENCRYPTION_KEY):
    raise ImproperlyConfigured(
        "Set FIELD_ENCRYPTION_KEY (it encrypts the connectors' credentials in the database) to a key of this"
        ' installation: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )
for _encryption_key in (FIELD_ENCRYPTION_KEY, *FIELD_ENCRYPTION_KEY_FALLBACKS):
    try:
        Fernet(_encryption_key)
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY and FIELD_ENCRYPTION_KEY_FALLBACKS must be Fernet keys (32 bytes in url-safe"
            f" base64, 44 characters); {_encryption_key[:4]}… is not one."
        ) from None

# An external chatbot's URL may not point at loopback, private, link-local, multicast, reserved or unspecified
# addresses (channels_app.policy.outbound), so an administrator's typo or a hostile bot cannot make the product call
# this machine or its network; these host names (exact, as written in the bot's URL) are exempt, e.g. a bot
# running beside the product: CHATBOT_ALLOWED_HOSTS=bot.internal,10.0.0.7
CHATBOT_ALLOWED_HOSTS = env.list("CHATBOT_ALLOWED_HOSTS", default=[])

# A JSON body nested too deeply for Python's parser is a 400 like any other malformed body, never a 500.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "channels_app.web.UntrustedJSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]

# --- Logs and readiness ---
# LOG_FORMAT=json writes one JSON object per line (time, level, logger, message, exception, and the request,
# conversation and connector ids when known) for a log collector; plain is for people. Secrets are masked in both
# (contact_center.logs).
from contact_center.logs import LOG_FORMATS, logging_config  # noqa: E402  (imports no app)

LOG_FORMAT = env("LOG_FORMAT", default="plain").strip().lower()
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; {LOG_FORMAT!r} is not.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO"))

# GET /readyz: ready when a Celery worker was alive within READINESS_WORKER_MAX_AGE seconds (workers record a
# heartbeat every 30 s) and beat scheduled its heartbeat task within READINESS_BEAT_MAX_AGE (every 60 s);
# contact_center.heartbeats.
READINESS_WORKER_MAX_AGE = env.int("READINESS_WORKER_MAX_AGE", default=120)
READINESS_BEAT_MAX_AGE = env.int("READINESS_BEAT_MAX_AGE", default=300)
# ...and the oldest webhook delivery still waiting to be turned into messages arrived at most this long ago.
READINESS_INBOUND_MAX_LAG = env.int("READINESS_INBOUND_MAX_LAG", default=300)
if READINESS_WORKER_MAX_AGE < 60 or READINESS_BEAT_MAX_AGE < 120:
    raise ImproperlyConfigured(
        "READINESS_WORKER_MAX_AGE must be at least 60 seconds and READINESS_BEAT_MAX_AGE at least 120: two "
        "heartbeats each (workers record theirs every 30 s, beat every 60 s)."
    )
if READINESS_INBOUND_MAX_LAG < 1:
    raise ImproperlyConfigured("READINESS_INBOUND_MAX_LAG must be at least 1 second.")
