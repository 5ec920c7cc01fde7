"""Settings for product-import: one module, configured by environment variables.

Every variable read here is listed, with its default, in the README. Local defaults work out
of the box against PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; values that must
be secret in production have no insecure default once DEBUG is off. It is one long module on
purpose (cookiecutter-django's way): every setting, and why it has its value, in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.devservices_env import environ_with_dev_services

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Local development: the services of a running `make run` -----------------------------------
# While `make run` runs, commands started beside it (`manage.py changepassword admin`, ...) take
# DATABASE_URL, REDIS_URL and DJANGO_DEBUG from the launcher's var/devservices.env, for whichever
# of them the environment does not set (project/devservices_env.py says when the file counts).
# Put into os.environ so processes these commands start see the same services.
os.environ.update(environ_with_dev_services(os.environ))

# --- Debug mode and the secret key ---------------------------------------------------------------
# DEBUG is off unless asked for: a deployment that forgets DJANGO_DEBUG must not show debug pages
# (they print DATABASE_URL and REDIS_URL with their credentials) nor run on a known key. `make run`
# and the test session ask for it (project/devservices.py, tests/support/session_env.py); the
# Procfile never does.
DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (the default): set it to 50+ "
            "random characters in production, or DJANGO_DEBUG=true for local development (`make run`, "
            "and commands run while it runs, have it set for them)."
        )
    # Only ever with DEBUG asked for explicitly: a development key is never used by default.
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # The web process is daphne serving project.asgi (see Procfile). The "daphne" app is left out
    # on purpose: it would only make `runserver` serve ASGI, and it loads Twisted (~40 MB) into
    # every process, Celery workers included.
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # OpClass in index expressions (catalog trigram indexes)
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_eventstream",
    "csp",
    "project",
    "catalog",
    "importer",
    "webhooks",
    "api",
    "spa",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A statement timeout outside DRF's views is a 503 in the API's error shape, not a 500.
    "api.exceptions.StatementTimeoutMiddleware",
    # Content-Security-Policy and Permissions-Policy (project/security_headers.py).
    "project.security_headers.PathScopedCSPMiddleware",
    "project.security_headers.PermissionsPolicyMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Searched before the apps' templates: overrides of third-party pages (the browsable API's
        # page without inline script, project/templates/rest_framework/api.html).
        "DIRS": [BASE_DIR / "project" / "templates"],
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

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/product_import")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# Options given in the URL (?sslmode=require, ?host=/socket/dir) are kept, merged below.
_DATABASE_URL_OPTIONS = DATABASES["default"].get("OPTIONS", {})
DATABASES["default"]["OPTIONS"] = {
    # Every open SSE stream is a long-lived request; a bounded pool keeps them (and everything
    # else) from exhausting PostgreSQL's connection limit: without it each stream held a
    # connection, and about a hundred streams exhausted PostgreSQL.
    "pool": {
        "min_size": 0,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
        "timeout": 30,
    }
} if env_bool("DATABASE_POOL", True) else {}
DATABASES["default"]["OPTIONS"].update(_DATABASE_URL_OPTIONS)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Statement timeouts -------------------------------------------------------------------------
# A web request's SQL statement may run this long; past it PostgreSQL cancels it and the request is
# answered 503 with Retry-After (api/exceptions.py), so a few expensive list requests cannot hold
# the whole connection pool. Only the web process gets it: project/asgi.py (its one entry point)
# sets WEB_PROCESS_ROLE before settings load. Workers, beat and management commands (imports,
# migrations) are not web requests and keep PostgreSQL's own limit (none) or their own below.
# Set as a libpq startup option, so it costs no round trip per request. 0 turns it off.
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 5000)
# Delete-all is one statement over the whole catalogue, run in a web request by staff only: it
# gets a limit of its own (importer/bulk_delete.py), long enough for millions of products.
BULK_DELETE_STATEMENT_TIMEOUT_MS = env_int("BULK_DELETE_STATEMENT_TIMEOUT_MS", 600_000)
# A CSV export's COPY runs as long as its client takes to read it (catalog/export.py).
EXPORT_STATEMENT_TIMEOUT_MS = env_int("EXPORT_STATEMENT_TIMEOUT_MS", 3_600_000)
if os.environ.get("WEB_PROCESS_ROLE") == "web" and DATABASE_STATEMENT_TIMEOUT_MS > 0:
    _libpq_options = DATABASES["default"]["OPTIONS"].get("options", "")
    DATABASES["default"]["OPTIONS"]["options"] = (
        f"{_libpq_options} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}".strip()
    )

# --- Redis / Celery -----------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "product-import")
# A message is acknowledged only once its task has finished, and goes back to the queue at once
# if the pool child running it dies: with the job lock and idempotent chunks this turns Celery's
# at-least-once delivery into exactly-once imports.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# When the worker loses Redis, a running import goes on (it needs only PostgreSQL); its message
# may be delivered again later, which the job lock turns into a no-op. Explicit, because
# Celery 6 changes the default to cancelling such tasks.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis redelivers an unacknowledged message after this long, even while its task still
    # runs. The job lock makes that harmless; the reaper (not this timeout) is what recovers
    # imports whose worker died, so it only needs to exceed the longest import.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600),
}
# Workers write a heartbeat to Redis this often; /healthz counts a worker as running while its
# last heartbeat is younger than three of them (project/worker_heartbeat.py).
WORKER_HEARTBEAT_INTERVAL = env_int("WORKER_HEARTBEAT_INTERVAL", 10)
WORKER_HEARTBEAT_TTL = 3 * WORKER_HEARTBEAT_INTERVAL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "importer-reap-stale-jobs": {
        "task": "importer.reap_stale_jobs",
        "schedule": float(env_int("IMPORT_REAPER_INTERVAL", 15)),
    },
    # Abandoned resumable uploads hold disk space until this deletes them (importer/tasks.py).
    "importer-expire-stale-uploads": {
        "task": "importer.expire_stale_uploads",
        "schedule": float(env_int("UPLOAD_EXPIRY_INTERVAL", 3600)),
    },
    # Import files and completed uploads older than IMPORT_FILE_RETENTION_DAYS (importer/retention.py).
    "importer-delete-old-files": {
        "task": "importer.delete_old_files",
        "schedule": float(env_int("IMPORT_RETENTION_INTERVAL", 3600)),
    },
    # Undo data of imports past IMPORT_UNDO_DAYS, or that can no longer be undone (importer/undo_expiry.py).
    "importer-expire-undo-data": {
        "task": "importer.expire_undo_data",
        "schedule": float(env_int("IMPORT_RETENTION_INTERVAL", 3600)),
    },
}

# --- Catalogue --------------------------------------------------------------------------------
# The longest product description, in characters: the API answers 400 past it, the import skips
# the row with a row error, and a check constraint holds the database to it (kept in step by
# `migrate`, catalog/constraints.py). A list page of 1000 products stays a few tens of MB at most.
PRODUCT_DESCRIPTION_MAX_LENGTH = env_int("PRODUCT_DESCRIPTION_MAX_LENGTH", 20_000)

# --- Files ------------------------------------------------------------------------------------
# Uploaded CSVs live outside any served directory; only the API hands them out, to their owner.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = None
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(MEDIA_ROOT)}},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# FILE_STORAGE=s3: uploads and import files live in an S3-compatible bucket (AWS S3, MinIO, Ceph,
# R2) instead of MEDIA_ROOT, so web processes and workers on different hosts share them. Configured
# by django-storages' own variable names; credentials may also come from boto3's usual chain (an
# instance role, ~/.aws). importer/s3_storage.py reads in ranges and assembles tus parts in the
# bucket, so no step needs a local disk.
FILE_STORAGE = env_str("FILE_STORAGE", "local").strip().lower()
if FILE_STORAGE == "s3":
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "").strip()
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured(
            "FILE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket that holds uploads and import "
            "files), and AWS_S3_ENDPOINT_URL for a service other than AWS S3 (MinIO, R2, ...)."
        )
    STORAGES["default"] = {
        "BACKEND": "importer.s3_storage.ImportS3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            # "path" for services without bucket subdomains (MinIO, moto); empty: boto3 decides.
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "") or None,
            # Key prefix inside the bucket, so environments can share one bucket.
            "location": env_str("AWS_LOCATION", ""),
            # Our stored names are unique (uuids), so no HEAD per save to look for a free name.
            "file_overwrite": True,
            # Nothing is ever served from the bucket: files reach users only through the API.
            "querystring_auth": True,
            "default_acl": None,
        },
    }
elif FILE_STORAGE != "local":
    raise ImproperlyConfigured(f"FILE_STORAGE must be 'local' or 's3', got {FILE_STORAGE!r}")
# Anything larger is written to a temporary file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Import engine ----------------------------------------------------------------------------
# Rows per committed chunk: ~0.6 s of work here, so progress is live and a crash loses little.
IMPORT_CHUNK_SIZE = env_int("IMPORT_CHUNK_SIZE", 25_000)
IMPORT_DEFAULT_ENCODING = env_str("IMPORT_DEFAULT_ENCODING", "utf-8")
# A pending job whose message may have been lost is enqueued again after this many seconds.
IMPORT_REQUEUE_PENDING_AFTER = env_int("IMPORT_REQUEUE_PENDING_AFTER", 300)
# A job resumed this many times after losing its worker is failed instead of retried forever.
IMPORT_MAX_ATTEMPTS = env_int("IMPORT_MAX_ATTEMPTS", 5)
# A file posted straight to /api/imports/ may be at most this big; larger ones must use the
# resumable upload at /api/uploads/ (daphne buffers a whole request body in memory).
IMPORT_MAX_DIRECT_UPLOAD_BYTES = env_int("IMPORT_MAX_DIRECT_UPLOAD_BYTES", 20 * 1024 * 1024)
# Every skipped row is counted; only this many are stored per job (ImportRowError rows), so a
# file of millions of bad rows cannot grow the database by many times its own size. The errors
# CSV and the UI say how many more there were.
IMPORT_MAX_STORED_ERRORS = env_int("IMPORT_MAX_STORED_ERRORS", 10_000)
# Import files and completed uploads are deleted this many days after their job or upload
# finished (the beat process; the job and its counts stay). 0 keeps them forever.
IMPORT_FILE_RETENTION_DAYS = env_int("IMPORT_FILE_RETENTION_DAYS", 7)
# An import can be undone this many days after it finished; then the beat process deletes its undo
# data (the before-images of the products it changed, the ids of those it created). 0 turns undo
# off: imports record no undo data (they then cost what they did before undo existed).
IMPORT_UNDO_DAYS = env_int("IMPORT_UNDO_DAYS", 7)
# Which way an import goes in (importer/import_path.py): "auto" loads in bulk into an empty
# catalogue (a shadow table, indexed once, swapped in) and in chunks otherwise; "always" / "never".
IMPORT_BULK_PATH = env_str("IMPORT_BULK_PATH", "auto").strip().lower()
if IMPORT_BULK_PATH not in ("auto", "always", "never"):
    raise ImproperlyConfigured(f"IMPORT_BULK_PATH must be auto, always or never, not {IMPORT_BULK_PATH!r}")
# Connections that build the shadow table's indexes at once, and the memory each build may sort in.
IMPORT_BULK_INDEX_WORKERS = env_int("IMPORT_BULK_INDEX_WORKERS", 2)
IMPORT_BULK_MAINTENANCE_WORK_MEM = env_str("IMPORT_BULK_MAINTENANCE_WORK_MEM", "1GB")
# The swap waits at most this long for readers of the catalogue per try (they wait behind it).
IMPORT_BULK_SWAP_LOCK_TIMEOUT_MS = env_int("IMPORT_BULK_SWAP_LOCK_TIMEOUT_MS", 2000)
# Builds the links in a job's JSON (its event stream, its errors CSV); the importer publishes that
# JSON from the worker and does not know the API's URLs.
IMPORT_JOB_LINKS = "api.links.import_job_links"

# --- Webhooks (webhooks/) -------------------------------------------------------------------------
# Webhook URLs whose host resolves to a loopback, private, link-local, multicast, reserved or
# unspecified address are refused when saved and when sent (webhooks/ssrf.py). Only for local
# development and tests, where the receiver is on 127.0.0.1.
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False)
# One attempt waits at most this long for the connection and for each read of the answer.
WEBHOOKS_TIMEOUT_SECONDS = float(env_str("WEBHOOKS_TIMEOUT_SECONDS", "10"))
# Attempts per event (the first included), on connection errors, timeouts, 429 and 5xx; attempt
# n+1 waits BASE x FACTOR^(n-1) seconds, +-25 % jitter: ~30 s, 2 min, 8 min, 32 min, 2 h 8 min.
WEBHOOKS_MAX_ATTEMPTS = env_int("WEBHOOKS_MAX_ATTEMPTS", 6)
WEBHOOKS_RETRY_BASE_SECONDS = float(env_str("WEBHOOKS_RETRY_BASE_SECONDS", "30"))
WEBHOOKS_RETRY_FACTOR = float(env_str("WEBHOOKS_RETRY_FACTOR", "4"))
# A webhook is turned off (with the reason shown) once this many events in a row could not be
# delivered after all their attempts. 0 never turns one off.
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 3)

# --- Auth / i18n --------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

REST_FRAMEWORK = {
    # Token first: DRF takes the WWW-Authenticate header from the first class, so anonymous
    # requests get 401 (session authentication alone has no such header and would give 403).
    # Session requests still have CSRF enforced by SessionAuthentication.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    # drf-spectacular's AutoSchema plus the API's error answers (400/401/403/404/415/429).
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "product-import API",
    "DESCRIPTION": "Import product catalogues from large CSV files and manage the catalogue.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Operations are tagged by the path segment after /api/ (auth, products, imports, uploads).
    "SCHEMA_PATH_PREFIX": "/api/",
    # The schema and docs need a signed-in user like the rest of the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Request and response schemas differ (read-only fields), so scripts get accurate types.
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's assets come from drf-spectacular-sidecar, served locally: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Live events (django-eventstream) -----------------------------------------------------------
def _redis_kwargs(url: str) -> dict:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    kwargs = {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 6379,
              "db": int((parsed.path or "/0").lstrip("/") or 0)}
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)
    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    return kwargs


EVENTSTREAM_REDIS = _redis_kwargs(REDIS_URL)
# Progress events are best effort: with Redis down, fail each publish at once instead of waiting
# out redis-py's default retries (~4 s per event, which stalled imports 20-fold during an outage).
EVENTSTREAM_REDIS.update(retry=None, socket_connect_timeout=2)
# Events are kept in the database so a reconnecting client can replay what it missed.
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "importer.events.ImportChannelManager"
# Redis pub/sub ignores the db number, so channel names carry a namespace: by default the
# database name, which keeps a test run and a dev server on one Redis apart.
EVENTS_NAMESPACE = env_str("EVENTS_NAMESPACE", "")
# An idle import stream sends a keep-alive this often, so proxies and clients see it is alive.
EVENTS_KEEPALIVE_SECONDS = env_int("EVENTS_KEEPALIVE_SECONDS", 20)

# --- Resumable uploads (tus 1.0 at /api/uploads/) ---------------------------------------------
# daphne holds a whole request body before Django sees it, so a large file arrives as many PATCH
# requests of at most TUS_MAX_CHUNK_SIZE bytes each (bigger ones are answered 413). A reverse
# proxy in front should cap request bodies a little above this, since daphne buffers first.
TUS_MAX_CHUNK_SIZE = env_int("TUS_MAX_CHUNK_SIZE", 8 * 1024 * 1024)
# The largest file one upload may announce (Upload-Length); larger ones are refused with 413.
UPLOAD_MAX_SIZE = env_int("UPLOAD_MAX_SIZE", 5 * 1024 * 1024 * 1024)
# An upload expires this long after its last part arrived (or after it completed, if no import
# takes it over); `uploads_expire_stale()` then deletes its stored parts and file.
UPLOAD_EXPIRY_HOURS = env_int("UPLOAD_EXPIRY_HOURS", 24)

# --- Production security (defaults change with DJANGO_DEBUG) ------------------------------------
# With DEBUG off every default below is the safe one and `manage.py check --deploy` is clean;
# each can be overridden by its environment variable. Behind a proxy that terminates TLS, set
# SECURE_PROXY_SSL_HEADER (e.g. "HTTP_X_FORWARDED_PROTO,https") so Django knows the request was
# HTTPS: without it SECURE_SSL_REDIRECT would redirect forever. Only set it when the proxy
# always overwrites that header, or a client could claim HTTPS on a plain connection.
_PRODUCTION = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _PRODUCTION)
# Load balancers probe health over plain HTTP on the private side; a redirect would fail them.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            'SECURE_PROXY_SSL_HEADER must be "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https".'
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _PRODUCTION)
# HSTS is sent on HTTPS responses only. Lower SECURE_HSTS_SECONDS (e.g. 3600) while trying a new
# domain: browsers remember it, and includeSubDomains covers every subdomain too.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _PRODUCTION)

# --- Caches and throttling (see api/throttling.py) ----------------------------------------------
# Throttle counters must be shared by every web process and survive a restart, so they live in
# Redis. Keys carry a per-environment prefix (by default the database name, like the events
# namespace), so a test run and a dev server on one Redis never share counters; the test session
# sets CACHE_KEY_PREFIX to its own value (tests/support/session_env.py).
CACHE_URL = env_str("CACHE_URL", REDIS_URL)
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "") or f"product-import:{DATABASES['default']['NAME']}"
# A cache that does not answer must not hang requests: fail fast (the throttle then lets them in).
_CACHE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": CACHE_KEY_PREFIX,
        "OPTIONS": _CACHE_OPTIONS,
    },
    # Its own alias, so clearing or re-pointing the general cache never resets rate limits.
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": f"{CACHE_KEY_PREFIX}:throttle",
        "OPTIONS": _CACHE_OPTIONS,
    },
}
# Rates are "<requests>/<sec|min|hour|day>". Login counts *failed* sign-in attempts on every login
# form (the API's two, the admin's, the browsable API's), per client address and per username
# (api/login_throttle.py, which checks them in the authentication backend); uploads count per
# user, per started transfer (tus creation or a direct file import), never per resumable-upload part.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "login": env_str("THROTTLE_LOGIN_RATE", "10/min"),
    # Per username, across addresses: a slow guess from many addresses. Anyone can lock a username
    # out for the rest of the window by failing on purpose (README, "Rate limits").
    "login_username": env_str("THROTTLE_LOGIN_USERNAME_RATE", "30/hour"),
    "upload": env_str("THROTTLE_UPLOAD_RATE", "60/hour"),
}
AUTHENTICATION_BACKENDS = [
    "api.login_throttle.ThrottledModelBackend",
    # Never reached for a password (the first one ends every check); listed so that sessions
    # signed in through it before the throttle existed stay valid (Django stores the backend's
    # path in the session and logs out a session whose backend is not listed).
    "django.contrib.auth.backends.ModelBackend",
]
# The admin's and the browsable API's sign-in forms are plain Django views: this answers their
# refused attempts with a 429 page (the API's views answer in JSON themselves).
MIDDLEWARE.append("api.login_throttle.LoginThrottledPageMiddleware")
# How many reverse proxies in front append to X-Forwarded-For: the client address for throttling
# is taken that many hops back. 0 (no proxy) uses the connection's address and ignores the
# header, which a client could otherwise forge to dodge the login limit. Behind one nginx: 1.
REST_FRAMEWORK["NUM_PROXIES"] = env_int("THROTTLE_NUM_PROXIES", 0)

# --- Upload limits per user ---------------------------------------------------------------------
# Each unfinished resumable upload can hold up to UPLOAD_MAX_SIZE bytes on disk until it finishes
# or expires; a user starting more than this many at once gets 429 on POST /api/uploads/.
UPLOAD_MAX_ACTIVE_PER_USER = env_int("UPLOAD_MAX_ACTIVE_PER_USER", 10)

# --- Browser security headers (project/security_headers.py) ------------------------------------
# Scripts, styles, images, fonts and connections (fetch, EventSource, tus) from this origin only;
# no inline script or style, no plugins, no framing. The favicon is a data: image.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # 'report-sample': a violation report quotes the start of what was refused.
        "script-src": ["'self'", "'report-sample'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# What third-party pages need on top, on their own paths only (see project/security_headers.py).
CSP_PATH_RELAXATIONS = [
    # The browsable API and Swagger UI at /api/docs/.
    ("/api/", {"style-src": ["'unsafe-inline'"]}),
    ("/api-auth/", {"style-src": ["'unsafe-inline'"]}),
    ("/admin/", {"style-src": ["'unsafe-inline'"]}),
]
# Browser features no page of this service uses, denied to it and anything it could embed.
PERMISSIONS_POLICY_DENIED = [
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
    "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
    "publickey-credentials-get", "screen-wake-lock", "usb", "xr-spatial-tracking",
]
# Django's default, made explicit: other sites see no paths or queries of this one.
SECURE_REFERRER_POLICY = "same-origin"
