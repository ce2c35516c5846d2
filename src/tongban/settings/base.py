"""Settings shared by every environment. Node operators configure through the environment:

- ``TONGBAN_NODE_CODE``: this node's 6-digit division code (default 500000, Chongqing).
- ``TONGBAN_DATA_DIR``: where the SQLite database, keys and run files live (default ./var).
- ``DATABASE_URL``: ``postgresql://user@host:5432/name``; empty means SQLite under the data dir.
- ``SECRET_KEY``: Django's secret; required in production.
- ``TONGBAN_ALLOWED_HOSTS``, ``TONGBAN_LOG_FORMAT`` (console|json), ``TONGBAN_LOG_LEVEL``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from tongban import HUB_NODE_CODE
from tongban.settings.env import database_config, env_int, env_list, env_path, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent

TONGBAN_DATA_DIR = env_path("TONGBAN_DATA_DIR", Path.cwd() / "var")
TONGBAN_NODE_CODE = env_str("TONGBAN_NODE_CODE", "500000")
TONGBAN_HUB_CODE = HUB_NODE_CODE
if not re.fullmatch(r"[0-9]{6}", TONGBAN_NODE_CODE):
    raise ImproperlyConfigured(
        f"TONGBAN_NODE_CODE must be a 6-digit division code, got {TONGBAN_NODE_CODE!r}"
    )
# Personal-data keys (keyed hash for look-ups, encryption for stored values); see core/pii.py.
TONGBAN_PII_KEY_FILE = env_path("TONGBAN_PII_KEY_FILE", TONGBAN_DATA_DIR / "keys" / "pii.json")
TONGBAN_PII_KEYS: dict[str, object] | None = None  # tests set keys inline instead of a file
# Exchange between nodes (exchange/): this node's signing keys (private halves only in files
# here), the URL peers reach it at, and the hub it trusts (empty: single node, or the hub).
TONGBAN_NODE_KEY_DIR = env_path("TONGBAN_NODE_KEY_DIR", TONGBAN_DATA_DIR / "keys" / "node")
TONGBAN_NODE_URL = env_str("TONGBAN_NODE_URL", "http://127.0.0.1:8000")
TONGBAN_HUB_URL = env_str("TONGBAN_HUB_URL", "")
# "direct": peers send to this node's URL (published in the trust list). "hub": only the hub
# may reach it (e.g. a province whose network links only to the national hub); the hub keeps
# the URL to itself and relays what peers send.
TONGBAN_NODE_REACH = env_str("TONGBAN_NODE_REACH", "direct")
# The hub's public keys, pinned out of band (a JWK set file); later ones come in trust lists.
TONGBAN_HUB_KEYS_FILE = env_path(
    "TONGBAN_HUB_KEYS_FILE", TONGBAN_DATA_DIR / "keys" / "hub-keys.json"
)
TONGBAN_TRUST_LIST_DAYS = env_int("TONGBAN_TRUST_LIST_DAYS", 7)
TONGBAN_KEY_GRACE_DAYS = env_int("TONGBAN_KEY_GRACE_DAYS", 7)
# Outgoing messages: the longest wait between two tries, and how long a worker's claim on a
# batch lasts (a worker that dies holds its batch this long). Shorter only for tests.
TONGBAN_OUTBOX_MAX_BACKOFF_SECONDS = env_int("TONGBAN_OUTBOX_MAX_BACKOFF_SECONDS", 3600)
TONGBAN_OUTBOX_LEASE_SECONDS = env_int("TONGBAN_OUTBOX_LEASE_SECONDS", 100)
# Set by `tongban serve` for its processes: a `tongban exchange deliver` process sends the
# outbox as messages are committed (woken by NOTIFY on PostgreSQL, polling SQLite), instead
# of a task per message for the worker.
TONGBAN_OUTBOX_DELIVERER = env_str("TONGBAN_OUTBOX_DELIVERER", "") == "1"

SECRET_KEY = env_str("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env_list("TONGBAN_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("TONGBAN_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves Swagger UI from its own static files: nodes often have no internet
    "django_tasks",
    "tongban.ops.apps.BackgroundTasksConfig",  # django_tasks_db, with a Chinese name
    "tongban.core",
    "tongban.regions",
    "tongban.accounts",
    "tongban.catalog",
    "tongban.cases",
    "tongban.exchange",
    "tongban.delivery",
    "tongban.portal",
    "tongban.workbench",
    "tongban.api",
    "tongban.ops",
]

MIDDLEWARE = [
    "tongban.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tongban.core.middleware.MachineInputMiddleware",
    "tongban.core.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "tongban.urls"
WSGI_APPLICATION = "tongban.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide template overrides (the admin's language switcher).
        "DIRS": [PACKAGE_DIR / "templates"],
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

DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL"),
        data_dir=TONGBAN_DATA_DIR,
        conn_max_age=env_int("TONGBAN_DB_CONN_MAX_AGE", 60),
    )
}

TASKS = {"default": {"BACKEND": "django_tasks_db.backend.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Chinese by default; English on request (Accept-Language: en, or the admin's switcher).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
# Our own messages first, then Chinese for third-party apps that ship none (kept by hand).
LOCALE_PATHS = [PACKAGE_DIR / "locale", PACKAGE_DIR / "locale_vendor"]
USE_I18N = True
# Stored in UTC, shown in Asia/Shanghai; every datetime is aware.
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

STATIC_URL = "static/"
STATIC_ROOT = TONGBAN_DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = TONGBAN_DATA_DIR / "media"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

TONGBAN_LOG_FORMAT = env_str("TONGBAN_LOG_FORMAT", "json")
TONGBAN_LOG_LEVEL = env_str("TONGBAN_LOG_LEVEL", "INFO")
LOGGING_CONFIG = None  # configured by tongban.core.logging in CoreConfig.ready()

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "tongban.accounts.backends.IdentityBackend",
]

# Real-name verification methods (accounts/verification.py), by dotted path: in-person
# verification at a window ships; a face-verification provider is added here by a deployment.
TONGBAN_VERIFICATION_METHODS = env_list(
    "TONGBAN_VERIFICATION_METHODS", ["tongban.accounts.verification.InPersonVerification"]
)
