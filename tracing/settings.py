"""Sagatrace settings: one module, driven by the environment.

Nothing set → the embedded default: SQLite under SAGATRACE_DATA_DIR and Celery
tasks run in-process after commit. Set DATABASE_URL and CELERY_BROKER_URL for
PostgreSQL + Redis + separate workers.
"""
import importlib.util
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def database_from_url(url, data_dir):
    """Parse DATABASE_URL (postgres://, postgresql://, sqlite:///path) into a Django DATABASES entry."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": data_dir / "sagatrace.sqlite3",
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20},
            # A file (live-server threads share it), one per test process so parallel runs never collide.
            "TEST": {"NAME": data_dir / f"test-sagatrace-{os.getpid()}.sqlite3"},
        }
    parts = urlparse(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": {"timeout": 20}}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        options = dict(parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5, **options},
        }
    # An unknown scheme is reported by the system check in tracing.checks.
    return {"ENGINE": "", "NAME": url}


DATA_DIR = Path(env("SAGATRACE_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    # A per-installation key kept in the data dir, so sessions survive restarts
    # without anyone having to invent one for the embedded default.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "tracing",
    "ingest",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dashboards.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tracing.urls"
WSGI_APPLICATION = "tracing.wsgi.application"

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
                "dashboards.context.nav",
            ],
        },
    }
]

DATABASES = {"default": database_from_url(env("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [
    BASE_DIR / "dashboards" / "assets",
    # plotly.js from the installed plotly package: no CDN (the CSP allows scripts from 'self' only).
    ("plotly", Path(importlib.util.find_spec("plotly").submodule_search_locations[0]) / "package_data"),
]
WHITENOISE_USE_FINDERS = True

# Security headers; cookies are Secure when served over HTTPS (set SAGATRACE_HTTPS=1).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SAGATRACE_HTTPS", False)
if env_bool("SAGATRACE_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery. No broker → tasks run in-process after commit (see tracing.tasks_runner).
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup would close the database connections before and after every task; closing
# them is left to tracing.celery, as Django does per request (CONN_MAX_AGE, health checks).
CELERY_DB_REUSE_MAX = 2**62
# Seconds an enqueue may wait on an unreachable broker before giving up (the sweep re-drives).
SAGATRACE_ENQUEUE_TIMEOUT = env_int("SAGATRACE_ENQUEUE_TIMEOUT", 2)

# Ingest limits (named, at the edge).
SAGATRACE_MAX_BODY_BYTES = env_int("SAGATRACE_MAX_BODY_BYTES", 20 * 1024 * 1024)
SAGATRACE_MAX_DECOMPRESSED_BYTES = env_int("SAGATRACE_MAX_DECOMPRESSED_BYTES", 64 * 1024 * 1024)
SAGATRACE_MAX_SPANS_PER_REQUEST = env_int("SAGATRACE_MAX_SPANS_PER_REQUEST", 10_000)
SAGATRACE_MAX_ATTRIBUTE_BYTES = env_int("SAGATRACE_MAX_ATTRIBUTE_BYTES", 256 * 1024)
SAGATRACE_MAX_PENDING_BATCHES = env_int("SAGATRACE_MAX_PENDING_BATCHES", 5_000)
SAGATRACE_RETRY_AFTER_SECONDS = env_int("SAGATRACE_RETRY_AFTER_SECONDS", 5)
# Indexing: re-drive batches pending longer than this; fail after this many attempts.
SAGATRACE_SWEEP_GRACE_SECONDS = env_int("SAGATRACE_SWEEP_GRACE_SECONDS", 120)
SAGATRACE_MAX_INDEX_ATTEMPTS = env_int("SAGATRACE_MAX_INDEX_ATTEMPTS", 5)
# A worker indexes the batches waiting behind its own in the same transaction, up to this many
# spans (PostgreSQL; 0 = one batch at a time): runs spread over several batches are recomputed once.
# Larger groups hold the runs' locks longer, and workers sharing runs wait on each other: 1,024
# indexed 10% more than 2,048 end to end (docs/performance.md, tenth session).
SAGATRACE_INDEX_GROUP_SPANS = env_int("SAGATRACE_INDEX_GROUP_SPANS", 1024)
SAGATRACE_INDEX_GROUP_BYTES = env_int("SAGATRACE_INDEX_GROUP_BYTES", 8 * 1024 * 1024)  # of stored bodies
# A run whose root span has not arrived after this long is shown as incomplete.
SAGATRACE_INCOMPLETE_AFTER_SECONDS = env_int("SAGATRACE_INCOMPLETE_AFTER_SECONDS", 3600)

CELERY_BEAT_SCHEDULE = {
    "sweep-pending-batches": {"task": "ingest.tasks.sweep", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Publishing to a dead broker must fail fast, not hang the intake request.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS.update({"socket_connect_timeout": SAGATRACE_ENQUEUE_TIMEOUT,
                                        "socket_timeout": SAGATRACE_ENQUEUE_TIMEOUT})
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = SAGATRACE_ENQUEUE_TIMEOUT
# A claimed batch whose worker died is re-driven after this lease.
SAGATRACE_CLAIM_LEASE_SECONDS = env_int("SAGATRACE_CLAIM_LEASE_SECONDS", 300)

# Cache: Redis when one is configured (shared by every web process, e.g. for per-key rate
# limits), in-process memory on the embedded default.
SAGATRACE_CACHE_URL = env("SAGATRACE_CACHE_URL") or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": SAGATRACE_CACHE_URL,
        "KEY_PREFIX": "sagatrace",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if SAGATRACE_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Per-API-key ingest rate (requests per second); 0 disables. Over it: 429 with Retry-After.
SAGATRACE_INGEST_RATE_PER_KEY = env_int("SAGATRACE_INGEST_RATE_PER_KEY", 200)
# Failed logins per username within the window before logins are refused for a while.
SAGATRACE_LOGIN_MAX_FAILURES = env_int("SAGATRACE_LOGIN_MAX_FAILURES", 5)
SAGATRACE_LOGIN_WINDOW_SECONDS = env_int("SAGATRACE_LOGIN_WINDOW_SECONDS", 900)
# Raw request bodies are kept only this long once indexed (Steps and Runs follow project retention).
SAGATRACE_RAW_RETENTION_HOURS = env_int("SAGATRACE_RAW_RETENTION_HOURS", 72)
CELERY_BEAT_SCHEDULE["purge-expired"] = {"task": "ingest.tasks.purge_expired", "schedule": 600.0}
