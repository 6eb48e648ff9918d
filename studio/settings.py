"""Studio's one settings module: every deployment difference comes from the environment.

The README lists each variable with its default. One module over 400 lines on purpose:
DESIGN.md asks for a single env-driven settings file, so no environment hides a setting
in a file the others do not read.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from studio.ops.logs import logging_config as _ops_logging_config
from studio.ops.sentry import init_sentry as _init_sentry

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
STUDIO_DATA_DIR = Path(env.str("STUDIO_DATA_DIR", default=str(BASE_DIR / "var")))
STUDIO_DATA_DIR.mkdir(parents=True, exist_ok=True)


def _development_secret_key(path: Path) -> str:
    # Generated once so sessions survive restarts of `make run`.
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false (production).")
    SECRET_KEY = _development_secret_key(STUDIO_DATA_DIR / "secret_key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# ------------------------------------------------------------------------------
# Apps
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
]
LOCAL_APPS = ["studio", "providers", "gallery", "studio.api", "studio.ops"]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    # First, so every later line (and the answer's latency) carries the request id.
    "studio.ops.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "studio.security_headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks request.user verified when the session passed the second sign-in step.
    "django_otp.middleware.OTPMiddleware",
    # Before any view (and LoginRequiredMiddleware) sees a path, query or form value.
    "studio.input_guard.InputGuardMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so it sees the views' exceptions first: a busy database is a 503, not a 500.
    "studio.unavailable.ServiceUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during sign-in into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

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
                "studio.context_processors.studio",
                "csp.context_processors.nonce",
            ],
        },
    }
]

# ------------------------------------------------------------------------------
# Database: SQLite under var/ by default, PostgreSQL through DATABASE_URL
# https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-notes
# ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{STUDIO_DATA_DIR / 'studio.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so web and worker threads queue for it
    # instead of failing with "database is locked" when a reader upgrades to a writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------
AUTH_USER_MODEL = "studio.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio:home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed sign-ins and locks out a username, and separately a client
# address, after STUDIO_LOGIN_FAILURE_LIMIT of them for STUDIO_LOGIN_LOCKOUT_MINUTES.
# Staff unlock early by deleting the access attempt in the admin (or `manage.py axes_reset`).
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Two-factor sign-in (django-otp, TOTP): optional, or required of a team's owners and admins
# by the team setting. A wrong code waits 1, 2, 4, 8… seconds before the next is checked.
OTP_TOTP_ISSUER = env.str("STUDIO_OTP_ISSUER", default="Studio")
OTP_TOTP_THROTTLE_FACTOR = 1
# Staff may delete a lost device in the admin but never read a user's key or its QR code
# (django-otp's admin views for those also answer a missing pk with a 500).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
AXES_FAILURE_LIMIT = env.int("STUDIO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STUDIO_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "studio.account_views.locked_out"
AXES_HTTP_RESPONSE_CODE = 429
# The address axes counts: REMOTE_ADDR, or the first X-Forwarded-For hop when a trusted
# proxy in front sets it (STUDIO_TRUSTED_PROXY_COUNT proxies).
AXES_IPWARE_PROXY_COUNT = env.int("STUDIO_TRUSTED_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="studio@localhost")

# ------------------------------------------------------------------------------
# i18n, static, media
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STUDIO_DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = STUDIO_DATA_DIR / "media"
STORAGES = {
    # Media has no public URL: every image is served by a view that checks access.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# An S3-compatible bucket (AWS, MinIO, R2...) through django-storages when one is named.
# Files stay private: a view checks access, then redirects to a signed URL that expires.
# https://django-storages.readthedocs.io/en/latest/backends/amazon-S3.html
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _s3_endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": _s3_endpoint or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # Self-hosted servers (MinIO) answer on path-style URLs.
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="path" if _s3_endpoint else "") or None,
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
            "file_overwrite": False,
            "default_acl": None,
            "location": env.str("AWS_LOCATION", default=""),
        },
    }
# With a bucket, send browsers to its signed URLs (the endpoint must be reachable by
# them); false streams every file through Django instead.
STUDIO_MEDIA_REDIRECT = env.bool("STUDIO_MEDIA_REDIRECT", default=True)

# Uploads: files above 2.5 MB spill to disk; the size limit itself is ours to enforce.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 32
STUDIO_MAX_UPLOAD_BYTES = env.int("STUDIO_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
STUDIO_MAX_UPLOAD_PIXELS = env.int("STUDIO_MAX_UPLOAD_PIXELS", default=50_000_000)

# ------------------------------------------------------------------------------
# Celery: filesystem broker under var/ by default, Redis through REDIS_URL
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = STUDIO_DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Without this kombu writes its exchange bindings into the current directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        # The folder is polled; the default second would add up to 1 s to every job start.
        "polling_interval": 0.1,
        "store_processed": False,
    }
else:
    # Every countdown we schedule stays far below this (see studio.services.jobs),
    # so Redis never re-delivers a waiting retry (celery#2599).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # kombu's Redis transport with one fix: a worker survives a Redis restart (studio/broker.py).
        CELERY_BROKER_TRANSPORT = "studio.broker:Transport"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 660
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Celery's Django fixup closes the database connection around every task unless this is
# set, so each task of a thread pool would open a PostgreSQL connection of its own (a new
# server backend every time). With it (as good as never reached) the worker keeps them, and
# closes them by CONN_MAX_AGE and the health checks, as a web request does
# (studio.ops.worker_signals.recycle_connections).
CELERY_DB_REUSE_MAX = 10**9
CELERY_BEAT_SCHEDULE_FILENAME = str(STUDIO_DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Lapsed leases, missed polls and lost tasks are found within seconds of the lease.
    "recover-stalled-jobs": {
        "task": "studio.tasks.recover_stalled_jobs", "schedule": 10.0, "options": {"expires": 10.0}
    },
    # Daily just after midnight, so a refill the pool could not cover is tried again the next day.
    "monthly-refills": {"task": "studio.tasks.run_monthly_refills", "schedule": crontab(hour=0, minute=10)},
    "gallery-purge-deleted-images": {"task": "gallery.tasks.purge_deleted_images", "schedule": 3600.0},
    "gallery-missing-thumbnails": {"task": "gallery.tasks.enqueue_missing_thumbnails", "schedule": 600.0},
    "purge-idempotency-records": {"task": "studio.api.tasks.purge_idempotency_records", "schedule": 3600.0},
    "retry-stalled-webhooks": {"task": "studio.api.tasks.retry_stalled_webhooks", "schedule": 300.0},
}

# Fair scheduling and provider limits (studio.services.jobs.dispatch / limits).
# Per provider family (or "family/model" for providers that limit per remote model): most
# calls in flight at once over every worker and host, and most calls started in any 60 s;
# 0 means no limit. "*" is the default for a family not listed. The admin ("Provider
# limits") overrides any of these without a deploy. The defaults leave headroom under the
# lowest paid tiers we know of; raise them to your account's tier.
STUDIO_PROVIDER_CONCURRENCY = env.int("STUDIO_PROVIDER_CONCURRENCY", default=32)
STUDIO_PROVIDER_PER_MINUTE = env.int("STUDIO_PROVIDER_PER_MINUTE", default=0)
STUDIO_PROVIDER_LIMITS: dict[str, dict[str, int]] = {
    "*": {"concurrent": STUDIO_PROVIDER_CONCURRENCY, "per_minute": STUDIO_PROVIDER_PER_MINUTE},
    # The local renderer calls no one.
    "local": {"concurrent": 0, "per_minute": 0},
    **env.json("STUDIO_PROVIDER_LIMITS", default={}),
}
# After a 429: no call starts for Retry-After (or this many seconds without one), and the
# provider's rate is halved for STUDIO_PROVIDER_SLOWDOWN_SECONDS (halved again on each 429).
STUDIO_PROVIDER_429_PAUSE = env.float("STUDIO_PROVIDER_429_PAUSE", default=5.0)
STUDIO_PROVIDER_SLOWDOWN_SECONDS = env.float("STUDIO_PROVIDER_SLOWDOWN_SECONDS", default=300.0)

# ------------------------------------------------------------------------------
# Cache: shared by every web process (the API's per-key rate limit lives here).
# Redis when REDIS_URL is set; otherwise files under var/, which the processes of the
# embedded setup share.
# https://docs.djangoproject.com/en/5.2/topics/cache/
# ------------------------------------------------------------------------------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "studio",
    }
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(STUDIO_DATA_DIR / "cache"),
        "KEY_PREFIX": "studio",
    }
}

# ------------------------------------------------------------------------------
# HTTP API (studio.api)
# ------------------------------------------------------------------------------
# Requests per key per window; 0 turns the limit off.
STUDIO_API_RATE_LIMIT = env.int("STUDIO_API_RATE_LIMIT", default=120)
STUDIO_API_RATE_WINDOW = env.int("STUDIO_API_RATE_WINDOW", default=60)
# Wrong API keys tolerated per client address per window before it gets 429; 0 turns it off.
STUDIO_API_KEY_FAILURE_LIMIT = env.int("STUDIO_API_KEY_FAILURE_LIMIT", default=10)
STUDIO_API_KEY_FAILURE_WINDOW = env.int("STUDIO_API_KEY_FAILURE_WINDOW", default=300)
# Largest request body the API reads (base64 images included), bytes.
STUDIO_API_MAX_BODY_BYTES = env.int("STUDIO_API_MAX_BODY_BYTES", default=50 * 1024 * 1024)
# How long signed image links in API answers and webhooks stay valid, seconds.
STUDIO_API_IMAGE_URL_MAX_AGE = env.int("STUDIO_API_IMAGE_URL_MAX_AGE", default=7 * 24 * 3600)
STUDIO_API_IDEMPOTENCY_TTL_HOURS = env.int("STUDIO_API_IDEMPOTENCY_TTL_HOURS", default=24)

# ------------------------------------------------------------------------------
# Providers: key and base URL per family; a base URL is the root the provider's
# documented paths are appended to.
# ------------------------------------------------------------------------------
PROVIDER_DEFAULT_BASE_URLS = {
    "OPENAI": "https://api.openai.com/v1",
    "GEMINI": "https://generativelanguage.googleapis.com/v1beta",
    "BFL": "https://api.bfl.ai",
    "IDEOGRAM": "https://api.ideogram.ai",
    "RECRAFT": "https://external.api.recraft.ai/v1",
    "LUMA": "https://api.lumalabs.ai/dream-machine/v1",
    "LEONARDO": "https://cloud.leonardo.ai/api/rest",
    "XAI": "https://api.x.ai/v1",
    "STABILITY": "https://api.stability.ai",
    "REPLICATE": "https://api.replicate.com/v1",
    "FAL": "https://queue.fal.run",
    "DASHSCOPE": "https://dashscope-intl.aliyuncs.com/api/v1",
    "ARK": "https://ark.ap-southeast.bytepluses.com/api/v3",
    # An aggregator in front of many providers (seeds 001, 002, 004), e.g. another Studio.
    "AGGREGATOR": "",
}
for _name, _default_url in PROVIDER_DEFAULT_BASE_URLS.items():
    globals()[f"{_name}_API_KEY"] = env.str(f"{_name}_API_KEY", default="")
    globals()[f"{_name}_BASE_URL"] = env.str(f"{_name}_BASE_URL", default=_default_url)

# Placeholder renders stand in for providers without a key during development only: in
# production (DEBUG=false) a model without a key is shown disabled unless asked otherwise.
STUDIO_DEMO_RENDER = env.str("STUDIO_DEMO_RENDER", default="auto" if DEBUG else "off")
if STUDIO_DEMO_RENDER not in ("auto", "off", "all"):
    raise ImproperlyConfigured("STUDIO_DEMO_RENDER must be one of auto, off, all.")
# Simulated latency of the local renderer, so progress is visible in the studio.
STUDIO_DEMO_DELAY = env.float("STUDIO_DEMO_DELAY", default=1.5)
# Nobody pays for a placeholder: demo renders are free unless this is set (the test suite
# sets it, so the money paths are exercised through the local renderer).
STUDIO_DEMO_CHARGE = env.bool("STUDIO_DEMO_CHARGE", default=False)
# Attempts per job for retryable provider errors (rate_limited, unavailable, timeout,
# upstream_error), with exponential back-off and full jitter.
# Eight attempts with the back-off below outlast a provider outage of about 90 s.
STUDIO_MAX_ATTEMPTS = env.int("STUDIO_MAX_ATTEMPTS", default=8)
STUDIO_RETRY_BASE_SECONDS = env.float("STUDIO_RETRY_BASE_SECONDS", default=2.0)
STUDIO_RETRY_MAX_SECONDS = env.float("STUDIO_RETRY_MAX_SECONDS", default=60.0)
# A running job's lease: renewed by its worker every third of this, run again once it lapses.
STUDIO_JOB_LEASE_SECONDS = env.float("STUDIO_JOB_LEASE_SECONDS", default=30.0)
# This studio's public origin (https://studio.example.com) for providers that fetch our
# files by URL: Luma takes reference images only as signed links under it. Empty: Luma
# jobs with references are refused with a clear message.
STUDIO_PUBLIC_URL = env.str("STUDIO_PUBLIC_URL", default="").rstrip("/")
if STUDIO_PUBLIC_URL and not STUDIO_PUBLIC_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("STUDIO_PUBLIC_URL must be an http(s) URL, e.g. https://studio.example.com.")

# ------------------------------------------------------------------------------
# Security (production)
# ------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # On by default in production; turn off only on purpose (e.g. plain HTTP on a LAN).
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The health check a load balancer calls over plain HTTP would be redirected otherwise.
    SECURE_REDIRECT_EXEMPT = env.list("SECURE_REDIRECT_EXEMPT", default=[])

# Content-Security-Policy on every response (django-csp): no inline script (a nonce for
# any that must stay inline), no framing, no plugins. Inline style attributes remain.
# https://django-csp.readthedocs.io/en/latest/configuration.html
_media_origins = [o for o in [env.str("AWS_S3_ENDPOINT_URL", default="")] if o]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:", *_media_origins],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Features no page of ours uses, refused for the page and anything it might embed.
STUDIO_PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
    "accelerometer=(), gyroscope=(), magnetometer=()"
)

# ------------------------------------------------------------------------------
# Operations: logs, metrics, errors, health (studio.ops)
# ------------------------------------------------------------------------------
# One JSON object per line in production; readable lines under `make run` (DEBUG=true).
STUDIO_LOG_FORMAT = env.str("STUDIO_LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = _ops_logging_config(json_lines=STUDIO_LOG_FORMAT == "json", level=env.str("LOG_LEVEL", default="INFO"))

# Prometheus multi-process mode: every web and worker process writes its counters under
# this folder, and /metrics sums them. Processes that share it must share one host (or one
# volume); clear it when the whole deployment restarts.
# https://prometheus.github.io/client_python/multiprocess/
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(STUDIO_DATA_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
# /metrics answers only with `Authorization: Bearer <token>`; empty turns it off.
STUDIO_METRICS_TOKEN = env.str("STUDIO_METRICS_TOKEN", default="")
# Workers write a heartbeat row this often; /readyz wants one younger than three beats.
STUDIO_WORKER_HEARTBEAT_SECONDS = env.float("STUDIO_WORKER_HEARTBEAT_SECONDS", default=10.0)
STUDIO_READYZ_REQUIRE_WORKER = env.bool("STUDIO_READYZ_REQUIRE_WORKER", default=True)
# Probes come over plain HTTP from inside the network, even when the site redirects to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Errors to Sentry (with its Django and Celery integrations) when SENTRY_DSN is set.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    _init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production" if not DEBUG else "development"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
