"""Tollgate's one settings module, configured entirely by environment variables.

Every variable has a safe development default (SQLite and an embedded Redis under ``var/``,
mail written to ``var/mail/``, the bundled Stripe simulator), so ``make run`` needs nothing set.
Production sets ``DEBUG=false`` and at least ``SECRET_KEY``, ``APIKEY_PEPPER``,
``ALLOWED_HOSTS``, ``SITE_URL``, ``DATABASE_URL``, ``REDIS_URL``, the Stripe keys, the
entitlement signing key and outgoing mail; portal/production.py lists what it refuses, and the
README's table every setting.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from portal import keyfiles, production
from portal.env import (
    env_address,
    env_bool,
    env_choice,
    env_colour,
    env_dir,
    env_dotted_path,
    env_int,
    env_list,
    env_network,
    env_secret,
    env_secret_url,
    env_str,
    env_url,
    kombu_redis_url,
)

# Lets the classes django-stubs makes generic (ModelAdmin[ApiKey], ModelForm[User]) be
# subscripted at run time too; it must run before any app's modules are imported.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TOLLGATE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=True)


def _dev_secret(name: str) -> str:
    """A random secret generated once into var/ and reused, for development only."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _required_secret(name: str) -> str:
    value = env_secret(name)
    if value:
        return value
    if DEBUG:
        return _dev_secret(name.lower())
    raise ImproperlyConfigured(f"{name} must be set (or {name}_FILE) when DEBUG is false")


SECRET_KEY = _required_secret("SECRET_KEY")
# Keys are hashed with a pepper kept apart from SECRET_KEY, so rotating one never breaks the other.
APIKEY_PEPPER = _required_secret("APIKEY_PEPPER")

# Where `make run` (manage.py runstack) serves the portal, and nginx and the demo API beside it:
# moving the portal (PORTAL_PORT) moves the rest, and the addresses below that default to them,
# so a second stack on one machine links, redirects and sends webhooks to itself.
PORTAL_PORT = env_int("PORTAL_PORT", 8000, minimum=1, maximum=65535)
GATEWAY_PORT = env_int("GATEWAY_PORT", PORTAL_PORT + 80, minimum=1, maximum=65535)
DEMO_API_PORT = env_int("DEMO_API_PORT", PORTAL_PORT + 81, minimum=1, maximum=65535)

SITE_URL = env_url("SITE_URL", f"http://127.0.0.1:{PORTAL_PORT}").rstrip("/")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", urlsplit(SITE_URL).hostname or ""]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "portal",
    "accounts",
    "catalog",
    "apikeys",
    "billing",
    "usage",
    "apidocs",
    "gateway",
    "onboarding",
    "requestlog",
    "seller",
    "webhooks",
    "eventstream",
    "credits",
]

MIDDLEWARE = [
    "portal.proxies.ClientAddressMiddleware",  # first: everything after sees the client's address
    "portal.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TOLLGATE_TEMPLATE_DIR = env_dir("TOLLGATE_TEMPLATE_DIR")
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The operator's overrides first (TOLLGATE_TEMPLATE_DIR), then the bundled templates.
        "DIRS": [*filter(None, [TOLLGATE_TEMPLATE_DIR]), BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "portal.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_secret_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The worker, beat and web processes share one file: WAL lets readers run beside a writer,
    # and IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so the end-to-end tests' server processes (the gateway behind nginx)
    # open the same test database as the test itself.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction pooling a cursor cannot outlive its statement: the CSV
    # export then reads in pages instead (usage/export.py).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
        "DISABLE_SERVER_SIDE_CURSORS", default=False
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: counters, caches, key invalidation, Celery broker ---------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = env_secret_url("REDIS_URL", "")
REDIS_IS_EMBEDDED = not REDIS_URL
REDIS_URL = REDIS_URL or f"unix://{EMBEDDED_REDIS_SOCKET}?db=0"
# REDIS_URL is then any node of a Redis Cluster; the Celery broker needs a plain Redis (or
# RabbitMQ) of its own, CELERY_BROKER_URL: kombu's Redis transport is not cluster-aware.
REDIS_CLUSTER = env_bool("REDIS_CLUSTER", False)


CACHES = {
    "default": {
        "BACKEND": "portal.redis_cache.RedisClusterCache"
        if REDIS_CLUSTER
        else "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tg:cache",
    }
}

# Also CELERY_BROKER_URL_FILE: a broker URL can carry a password.
CELERY_BROKER_URL = env_secret_url(
    "CELERY_BROKER_URL", "" if REDIS_CLUSTER else kombu_redis_url(REDIS_URL)
)
if not CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "REDIS_CLUSTER=true needs CELERY_BROKER_URL, a plain Redis (redis://...) or RabbitMQ "
        "(amqp://...): Celery's Redis transport cannot use a cluster"
    )
CELERY_RESULT_BACKEND = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "rpc://"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True  # a task a worker was running when it died is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
# Workers log through LOGGING (plain or JSON, with request ids), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# No task runs longer than this: Celery kills it (each is idempotent, and the long jobs are cut
# into short tasks: billing.reconcile's lanes, the flush's per-account steps). The Redis broker
# delivers a task again once it is unacknowledged for the visibility timeout, so that timeout
# must outlast the longest task and the longest countdown (a retry's wait, at most
# TASK_RETRY_MAX_SECONDS), or a task would run twice while the first copy still runs or waits.
CELERY_TASK_TIME_LIMIT = 15 * 60
TASK_RETRY_MAX_SECONDS = 600
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * max(CELERY_TASK_TIME_LIMIT, TASK_RETRY_MAX_SECONDS)
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
USAGE_FLUSH_SECONDS = env_int("USAGE_FLUSH_SECONDS", 30, minimum=1)
# rate_limit.sustained (usage/sustained.py): an account's live calls refused for rate limits for
# this long (60 s by default), with no gap between flushes that saw a refusal longer than the
# gap (three flushes by default, so one slow flush does not end an episode).
RATE_LIMIT_SUSTAINED_SECONDS = env_int("RATE_LIMIT_SUSTAINED_SECONDS", 60, minimum=1)
RATE_LIMIT_SUSTAINED_GAP_SECONDS = env_int(
    "RATE_LIMIT_SUSTAINED_GAP_SECONDS", 3 * USAGE_FLUSH_SECONDS, minimum=1
)
# How long the request log (requestlog.LoggedRequest, from the access log) keeps each call.
REQUEST_LOG_RETENTION_DAYS = env_int("REQUEST_LOG_RETENTION_DAYS", 7, minimum=1)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "usage-flush-counters": {"task": "usage.flush_counters", "schedule": USAGE_FLUSH_SECONDS},
    "requestlog.prune": {"task": "requestlog.prune", "schedule": 3600.0},
    # The one pass over the whole keyspace: finds usage hashes whose dirty mark was lost.
    "usage-sweep-counters": {"task": "usage.sweep_counters", "schedule": 3600.0},
    "apikeys.send_expiry_reminders": {
        "task": "apikeys.send_expiry_reminders",
        "schedule": 24 * 3600.0,  # daily; each key is reminded once (expiry_reminder_sent_at)
    },
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
# ACCOUNT_RATE_LIMITS is left unset on purpose: allauth's defaults limit failed logins per
# address and per IP, signups, password resets and verification emails.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Tollgate] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = urlsplit(SITE_URL).scheme
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Unverified addresses never block their owner's sign-up; sign-up timing hides who has an account.
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Tollgate"
# The client's address: portal.proxies.ClientAddressMiddleware puts it in REMOTE_ADDR, taking it
# from X-Forwarded-For (TRUSTED_PROXY_COUNT entries from the right: the bundled nginx alone = 1)
# only on requests that carry nginx's proof (X-Gateway-Secret); 0 never reads the header.
# allauth's rate limits then read REMOTE_ADDR alone, so no client can spoof its way around them.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = 0

SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
for _provider in ("github", "google"):
    _client_id = env_str(f"{_provider.upper()}_CLIENT_ID")
    _secret = env_secret(f"{_provider.upper()}_CLIENT_SECRET")
    if _client_id and _secret:
        INSTALLED_APPS.append(f"allauth.socialaccount.providers.{_provider}")
        SOCIALACCOUNT_PROVIDERS[_provider] = {
            "APPS": [{"client_id": _client_id, "secret": _secret, "key": ""}]
        }

# --- Email: SMTP when EMAIL_HOST is set, or the backend EMAIL_BACKEND names; else files -------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tollgate <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_BACKEND = env_dotted_path("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else ""
)
# Neither: development's files under var/mail, which production refuses (portal/production.py):
# there no sign-up confirmation would ever leave the machine.
MAIL_IS_LOCAL = not EMAIL_BACKEND
EMAIL_BACKEND = EMAIL_BACKEND or "django.core.mail.backends.filebased.EmailBackend"

# --- REST API and its schema ----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The token class first: unauthenticated calls then get 401 with a Bearer challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's own, but for JSON nested too deeply to parse: a 400, not a 500 (portal/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tollgate portal API",
    "DESCRIPTION": (
        "Manage the accounts, API keys, personal access tokens, usage and invoices of a "
        "Tollgate developer portal.\n\n"
        "Authenticate with a personal access token (`Authorization: Bearer tg_pat_…`, from "
        "/profile/tokens/) or, from the portal's own pages, the session cookie plus its CSRF "
        "token. Lists are paged with `limit` and `offset`. Every error is JSON "
        '`{"code", "detail"[, "errors"]}`: branch on `code`, show `detail` to people; with '
        "`code` `invalid`, `errors` holds the messages per field."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Path parameters match only what the URL converter routes, so no client (or fuzzer) is
    # told that "a b" is a valid account slug.
    "PATH_CONVERTER_OVERRIDES": {"slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}},
    "ENUM_NAME_OVERRIDES": {
        "EnvironmentEnum": "apikeys.models.Environment",
        "RoleEnum": "accounts.roles.Role",
    },
}

# --- Static files, i18n ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The image collects them at build time, outside the data volume (STATIC_ROOT=/app/staticfiles).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one even in DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers and orchestrators probe over plain HTTP: a 301 would read as "down"
    # (portal/wsgi.py answers the probes before this; /healthz is exempt where Django routes
    # it itself). The JWKS is fetched over plain HTTP by upstreams on the stack's own network
    # (public keys; where the network is not yours, upstreams fetch it over HTTPS via nginx).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^\.well-known/jwks\.json$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix makes browsers refuse the cookie unless Secure, path=/ and no Domain.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
if env_bool("BEHIND_TLS_PROXY", default=not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Pages carry no inline script or style: everything comes from /static/ (see static/js/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Product settings -----------------------------------------------------------------------
TOLLGATE_NAME = env_str("TOLLGATE_NAME", "Tollgate")
# Branding without forking (docs/branding.md): the logo, colour, home copy and support address,
# and TOLLGATE_TEMPLATE_DIR, a folder of templates searched before the bundled ones (emails too).
TOLLGATE_LOGO_URL = env_str("TOLLGATE_LOGO_URL", "")  # empty: the bundled mark
if TOLLGATE_LOGO_URL and not TOLLGATE_LOGO_URL.startswith(("/", "https://", "http://")):
    raise ImproperlyConfigured(
        f"TOLLGATE_LOGO_URL must be a path or an http(s) URL, not {TOLLGATE_LOGO_URL!r}"
    )
if "://" in TOLLGATE_LOGO_URL:  # a logo on another host: the CSP lets that host's images in
    _logo = urlsplit(TOLLGATE_LOGO_URL)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"].append(f"{_logo.scheme}://{_logo.netloc}")
TOLLGATE_BRAND_COLOUR = env_colour("TOLLGATE_BRAND_COLOUR", "#3b5bdb")
TOLLGATE_HOME_HEADLINE = env_str("TOLLGATE_HOME_HEADLINE", "Build on our API in minutes")
TOLLGATE_HOME_LEAD = env_str(
    "TOLLGATE_HOME_LEAD",
    "Sign up, pick a plan, get a key and make your first call. "
    "Watch your usage live and pay only for what you use.",
)
TOLLGATE_SUPPORT_EMAIL = env_str("TOLLGATE_SUPPORT_EMAIL", "")
APIKEY_PREFIX = env_str("APIKEY_PREFIX", "tg")
# Invitation emails carry a name the account chose to someone else's inbox: each account may
# send so many an hour, and each address receive so many a day (from every account together).
INVITATIONS_PER_ACCOUNT_PER_HOUR = env_int("INVITATIONS_PER_ACCOUNT_PER_HOUR", 20, minimum=1)
INVITATIONS_PER_RECIPIENT_PER_DAY = env_int("INVITATIONS_PER_RECIPIENT_PER_DAY", 3, minimum=1)
# Free-plan accounts one person may own, their personal account included: each new account
# starts free with its own quota, so more would multiply it.
FREE_ACCOUNTS_PER_OWNER = env_int("FREE_ACCOUNTS_PER_OWNER", 2, minimum=1)
GATEWAY_PUBLIC_URL = env_url("GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{GATEWAY_PORT}").rstrip("/")
GATEWAY_ACCESS_LOG = Path(env_str("GATEWAY_ACCESS_LOG", str(VAR_DIR / "nginx" / "access.log")))
# Records in each gateway process's API key cache (least recently used dropped beyond it).
GATEWAY_KEY_CACHE_ENTRIES = env_int("GATEWAY_KEY_CACHE_ENTRIES", 100_000, minimum=1)
# Keys no row has that one client address (an IPv6 /64) may have each auth process look up per
# 10 s; beyond it, its cache misses are refused (429) without a query (apikeys/unknown_keys.py).
# Below first loads' batch of 500, so one address never fills a batch. 0: no limit.
GATEWAY_UNKNOWN_KEYS_PER_ADDRESS = env_int("GATEWAY_UNKNOWN_KEYS_PER_ADDRESS", 200, minimum=0)
# Names this gateway host's log collector: its read position is kept per (host, log path).
GATEWAY_HOST_ID = env_str("GATEWAY_HOST_ID", socket.gethostname())
GATEWAY_ON_REDIS_DOWN = env_choice("GATEWAY_ON_REDIS_DOWN", "deny", ("deny", "allow"))
# The gateway: nginx sends GATEWAY_SECRET with every auth_request (see deploy/nginx/). Unset, it
# is derived from SECRET_KEY (so production needs no extra secret); re-render the nginx config
# with `manage.py gateway_config` after changing either.
_GIVEN_GATEWAY_SECRET = env_secret("GATEWAY_SECRET")
GATEWAY_SECRET = (
    _GIVEN_GATEWAY_SECRET
    or hmac.new(SECRET_KEY.encode(), b"tollgate.gateway-secret", hashlib.sha256).hexdigest()
)
# The auth server (gateway/server.py): where nginx's auth_request goes, and where `make run`
# starts it (beside the portal at PORTAL_PORT + 2, so a moved portal moves it too), or
# unix:/path for a unix socket (nginx on the same host: ~20 µs of CPU a call less).
AUTH_SERVER_ADDRESS = env_address("AUTH_SERVER_ADDRESS", f"127.0.0.1:{PORTAL_PORT + 2}", unix=True)
# The mock server (sandbox/server.py): where nginx sends test keys' calls to products whose
# test_route is `mock`, and where `make run` starts it (PORTAL_PORT + 82, beside the demo API).
MOCK_SERVER_ADDRESS = env_address("MOCK_SERVER_ADDRESS", f"127.0.0.1:{PORTAL_PORT + 82}")
# nginx in production (rendered by `manage.py gateway_config`): TLS for the gateway and the
# portal, the proxies whose X-Forwarded-Proto is believed, the CAs that vouch for HTTPS upstreams.
GATEWAY_TLS_CERTIFICATE = env_str("GATEWAY_TLS_CERTIFICATE")
GATEWAY_TLS_CERTIFICATE_KEY = env_str("GATEWAY_TLS_CERTIFICATE_KEY")
GATEWAY_HSTS_SECONDS = env_int("GATEWAY_HSTS_SECONDS", 31_536_000, minimum=0)
GATEWAY_TRUSTED_PROXIES = [
    env_network("GATEWAY_TRUSTED_PROXIES", item) for item in env_list("GATEWAY_TRUSTED_PROXIES", [])
]
GATEWAY_UPSTREAM_CA_BUNDLE = env_str(
    "GATEWAY_UPSTREAM_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"
)
# Remove the raw key (Authorization / X-API-Key) from what the upstream API receives.
GATEWAY_STRIP_KEY = env_bool("GATEWAY_STRIP_KEY", default=True)
# Test keys (tg_test_...) share their own, lower limits and quota per account; never billed.
GATEWAY_TEST_KEY_RPS = env_int("GATEWAY_TEST_KEY_RPS", 5, minimum=1)
GATEWAY_TEST_KEY_RPM = env_int("GATEWAY_TEST_KEY_RPM", 100, minimum=1)
GATEWAY_TEST_KEY_PER_PERIOD = env_int("GATEWAY_TEST_KEY_PER_PERIOD", 1000, minimum=1)
# How long a process trusts its cached account policy without hearing an invalidation. Changes
# through the portal, billing and set_plan reach every process at once (pub/sub), a grace's end
# and a period's end expire the entry exactly, and a process that loses Redis drops them all:
# this bounds only changes made behind those signals (as the key cache's 300 s do). Each cached
# account is reloaded once per TTL: 100,000 busy accounts cost ~330 loads a second at 300 s.
GATEWAY_POLICY_TTL_SECONDS = env_int("GATEWAY_POLICY_TTL_SECONDS", 300, minimum=1)
# Leased allowance (gateway/leasing.py): the most calls an auth process may admit for one account
# on one lease (a term: 100 ms under a per-second limit, else 1 s) without Redis; 0 decides every
# call in Redis. Leased calls' usage reaches Redis up to a term later; SIGKILL loses that much.
GATEWAY_LEASE_MAX_CALLS = env_int("GATEWAY_LEASE_MAX_CALLS", 200, minimum=0)
# At most this many account policies cached per process, least recently used dropped (each key
# cached needs at most one: the key cache's default bound). About 1 KB each.
GATEWAY_POLICY_CACHE_ENTRIES = env_int("GATEWAY_POLICY_CACHE_ENTRIES", 100_000, minimum=1)
# Connections to the auth server (gateway/worker.py), which only nginx should reach. One that
# sends no request within GATEWAY_AUTH_FIRST_BYTE_SECONDS, or has carried none with the gateway
# secret and idles that long between requests, is closed (nginx sends its request as soon as it
# connects); nginx's kept-alive ones idle up to 600 s. Each auth process holds at most
# GATEWAY_AUTH_MAX_CONNECTIONS (fewer if its file descriptor limit is lower): at the cap, a new
# connection closes the oldest stranger's, or is refused if nginx's fill it. nginx keeps up to
# 128 idle per nginx worker (deploy/nginx/gateway.conf.template), plus the calls in flight.
GATEWAY_AUTH_FIRST_BYTE_SECONDS = env_int("GATEWAY_AUTH_FIRST_BYTE_SECONDS", 5, minimum=1)
GATEWAY_AUTH_MAX_CONNECTIONS = env_int("GATEWAY_AUTH_MAX_CONNECTIONS", 4096, minimum=1)
# Entitlement tokens (gateway/entitlements.py, docs/entitlements.md): the Ed25519 private key
# (PEM) that signs them, rotated by `manage.py rotate_entitlement_key`; generated once under
# var/ in development, required in production.
ENTITLEMENT_SIGNING_KEY_FILE = env_str("ENTITLEMENT_SIGNING_KEY_FILE")
if not DEBUG and not Path(ENTITLEMENT_SIGNING_KEY_FILE or ".").is_file():
    raise ImproperlyConfigured(
        "ENTITLEMENT_SIGNING_KEY_FILE must name the Ed25519 private key (PEM) that signs "
        "entitlement tokens when DEBUG is false (openssl genpkey -algorithm ed25519 -out FILE)"
    )
if DEBUG:
    ENTITLEMENT_SIGNING_KEY_FILE = ENTITLEMENT_SIGNING_KEY_FILE or str(
        VAR_DIR / "entitlement_signing_key.pem"
    )
    keyfiles.create_if_missing(Path(ENTITLEMENT_SIGNING_KEY_FILE))
# How long a token is valid; the gateway renews it after half of that.
ENTITLEMENT_TOKEN_SECONDS = env_int("ENTITLEMENT_TOKEN_SECONDS", 300, minimum=30)

# LOG_FORMAT=json: one JSON object a line for log shippers; both formats carry the request id
# nginx sent (X-Request-Id), so a line can be matched with nginx's access log.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
# Checked here: logging.config would only say "Unable to configure root logger".
LOG_LEVEL = env_choice(
    "LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
).upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler would print every django.* line a second time, unformatted.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

# Prometheus metrics at /metrics, for a scraper that sends `Authorization: Bearer METRICS_TOKEN`;
# unset, /metrics is 404. Several server processes share PROMETHEUS_MULTIPROC_DIR (see
# portal/metrics.py).
METRICS_TOKEN = env_secret("METRICS_TOKEN")

# Error reports go to Sentry when SENTRY_DSN is set (Django and Celery integrations).
SENTRY_DSN = env_secret("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.utils import BadDsn

    try:
        sentry_sdk.init(
            dsn=SENTRY_DSN,
            environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
            traces_sample_rate=0.0,  # errors only: tracing would sit on the gateway's hot path
            send_default_pii=False,
        )
    except BadDsn as error:  # its message names the part that is wrong, never the key
        raise ImproperlyConfigured(
            f"SENTRY_DSN is not a Sentry DSN (https://KEY@HOST/PROJECT): {error}"
        ) from None

# --- Billing (Stripe) -----------------------------------------------------------------------
# With no STRIPE_SECRET_KEY the portal talks to the bundled Stripe simulator (`manage.py
# stripe_simulator`, started by `make run`) and says so on every billing page.
STRIPE_SECRET_KEY = env_secret("STRIPE_SECRET_KEY")
STRIPE_USES_SIMULATOR = not STRIPE_SECRET_KEY
STRIPE_SIMULATOR_PORT = env_int("STRIPE_SIMULATOR_PORT", 12111, minimum=1)
if STRIPE_USES_SIMULATOR:
    STRIPE_SECRET_KEY = "sk_test_tollgate_simulator"
STRIPE_API_BASE = env_url(
    "STRIPE_API_BASE",
    f"http://127.0.0.1:{STRIPE_SIMULATOR_PORT}"
    if STRIPE_USES_SIMULATOR
    else "https://api.stripe.com",
).rstrip("/")
STRIPE_WEBHOOK_SECRET = env_secret("STRIPE_WEBHOOK_SECRET") or (
    production.SIMULATOR_WEBHOOK_SECRET if STRIPE_USES_SIMULATOR and DEBUG else ""
)
STRIPE_METER_EVENT_NAME = env_str("STRIPE_METER_EVENT_NAME", "tollgate_api_calls")
BILLING_GRACE_DAYS = env_int("BILLING_GRACE_DAYS", 3, minimum=0)
BILLING_DOWNGRADE_AT_PERIOD_END = env_bool("BILLING_DOWNGRADE_AT_PERIOD_END", default=True)
# Stripe Tax (docs/pricing.md): tax computed by Stripe in Checkout and on the subscriptions it
# starts; it needs the customer's address, so Checkout then always asks for it.
STRIPE_AUTOMATIC_TAX = env_bool("STRIPE_AUTOMATIC_TAX", default=False)
STRIPE_COLLECT_BILLING_ADDRESS = env_bool("STRIPE_COLLECT_BILLING_ADDRESS", default=False)
STRIPE_COLLECT_TAX_ID = env_bool("STRIPE_COLLECT_TAX_ID", default=False)
# The nightly reconcile's lanes: how many tasks call Stripe at once (billing/tasks.py).
BILLING_RECONCILE_CONCURRENCY = env_int("BILLING_RECONCILE_CONCURRENCY", 4, minimum=1)
CELERY_BEAT_SCHEDULE["billing-reconcile-nightly"] = {
    "task": "billing.reconcile",
    "schedule": 24 * 3600.0,
}
CELERY_BEAT_SCHEDULE["billing-retry-failed-events"] = {
    "task": "billing.retry_failed_events",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["billing-announce-suspensions"] = {
    "task": "billing.announce_suspensions",
    "schedule": 600.0,  # each grace period's end is emailed once (a unique Notice per episode)
}
CELERY_BEAT_SCHEDULE["billing-end-expired-comps"] = {
    "task": "billing.end_expired_comps",
    "schedule": 600.0,  # a comp given --until a day ends within 10 minutes of that day's end
}
# --- Prepaid credits and time passes (credits app) -----------------------------------------
CREDITS_FLUSH_SECONDS = env_int("CREDITS_FLUSH_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE["credits-flush"] = {"task": "credits.flush", "schedule": CREDITS_FLUSH_SECONDS}
CELERY_BEAT_SCHEDULE["credits-expire"] = {"task": "credits.expire", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["credits-remind-expiring-passes"] = {
    "task": "credits.remind_expiring_passes",
    "schedule": 600.0,  # each pass reminded once (TimePass.reminded_at)
}
# --- Customer webhooks ----------------------------------------------------------------------
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env_int("WEBHOOKS_TIMEOUT_SECONDS", 5, minimum=1)
# Every endpoint gets its own POST of each event, and "send test" and "resend" POST on demand:
# without bounds an account could aim many endpoints, or a loop of clicks, at someone's server.
WEBHOOKS_ENDPOINTS_PER_ACCOUNT = env_int("WEBHOOKS_ENDPOINTS_PER_ACCOUNT", 16, minimum=1)
WEBHOOKS_MANUAL_SENDS_PER_MINUTE = env_int("WEBHOOKS_MANUAL_SENDS_PER_MINUTE", 5, minimum=1)
# Deliveries wait on other people's servers: their own queue, served by a thread pool.
CELERY_TASK_ROUTES = {"webhooks.deliver": {"queue": "webhooks"}}
CELERY_BEAT_SCHEDULE["webhooks-send-due"] = {"task": "webhooks.send_due", "schedule": 15.0}
# The seller console's usage figures across accounts (seller/snapshot.py).
SELLER_CONSOLE_REFRESH_SECONDS = env_int("SELLER_CONSOLE_REFRESH_SECONDS", 300, minimum=10)
CELERY_BEAT_SCHEDULE["seller-refresh-console"] = {
    "task": "seller.refresh_console",
    "schedule": float(SELLER_CONSOLE_REFRESH_SECONDS),
}
# --- Usage event stream (every decided call, to NATS JetStream) ------------------------------
EVENTSTREAM_NATS_URL = env_str("EVENTSTREAM_NATS_URL", "")  # empty: off
EVENTSTREAM_STREAM = env_str("EVENTSTREAM_STREAM", "TOLLGATE_USAGE")
EVENTSTREAM_SUBJECT = env_str("EVENTSTREAM_SUBJECT", "tollgate.usage.calls")
# The SDK logs every request at INFO; its errors reach us as BillingError anyway.
LOGGING["loggers"]["stripe"] = {"level": "WARNING"}

# --- Production refuses the development stand-ins (portal/production.py) ----------------------
ALLOW_DEMO_BACKENDS = env_bool("ALLOW_DEMO_BACKENDS", default=False)
if not DEBUG:
    _refusals = production.refusals(
        production.Backends(
            database_engine=DATABASES["default"]["ENGINE"],
            redis_is_embedded=REDIS_IS_EMBEDDED,
            stripe_uses_simulator=STRIPE_USES_SIMULATOR,
            stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
            mail_is_local=MAIL_IS_LOCAL,
        ),
        ALLOW_DEMO_BACKENDS,
        addresses={name: env_str(name) for name in production.REQUIRED_ADDRESSES},
        # Those that are set: a derived GATEWAY_SECRET and the simulator's key are not secrets.
        secrets={
            name: value
            for name, value in {
                "SECRET_KEY": SECRET_KEY,
                "APIKEY_PEPPER": APIKEY_PEPPER,
                "GATEWAY_SECRET": _GIVEN_GATEWAY_SECRET,
                "METRICS_TOKEN": METRICS_TOKEN,
                "STRIPE_SECRET_KEY": "" if STRIPE_USES_SIMULATOR else STRIPE_SECRET_KEY,
                "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
                "EMAIL_HOST_PASSWORD": EMAIL_HOST_PASSWORD,
            }.items()
            if value
        },
    )
    if _refusals:
        raise ImproperlyConfigured(production.message(_refusals))
