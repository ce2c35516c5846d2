"""Settings shared by every environment. Node operators configure through the environment:

- ``TONGBAN_NODE_CODE``: this node's 6-digit division code (default 500000, Chongqing).
- ``TONGBAN_DATA_DIR``: where the SQLite database, keys and run files live (default ./var).
- ``DATABASE_URL``: ``postgresql://user@host:5432/name``; empty means SQLite under the data dir.
- ``SECRET_KEY``: Django's secret; required in production.
- ``TONGBAN_ALLOWED_HOSTS``, ``TONGBAN_LOG_FORMAT`` (console|json), ``TONGBAN_LOG_LEVEL``.
- Staff sign-in: ``TONGBAN_STAFF_SESSION_IDLE_MINUTES`` (30), ``TONGBAN_STAFF_SESSION_MAX_HOURS``
  (10), ``TONGBAN_LOGIN_FAILURE_LIMIT`` (5), ``TONGBAN_LOGIN_LOCKOUT_MINUTES`` (30),
  ``TONGBAN_TRUSTED_PROXIES`` (0: the client address is REMOTE_ADDR).
"""

from __future__ import annotations

import datetime as dt
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
# Departments' seal keys (P-256, one PEM file per key id), for licences and their PDFs.
TONGBAN_SEAL_KEY_DIR = env_path("TONGBAN_SEAL_KEY_DIR", TONGBAN_DATA_DIR / "keys" / "seals")
# The font printed licences (PDF) use; empty: the first Noto CJK font found (fonts-noto-cjk).
TONGBAN_PDF_FONT = env_str("TONGBAN_PDF_FONT", "")
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
# Appointments at windows (delivery/appointments.py): how many days ahead a person may book,
# how many open bookings one person may hold, and who tells people about them (dotted paths
# of delivery.notifiers.Notifier classes, e.g. an SMS gateway's next to the recording one).
TONGBAN_APPOINTMENT_HORIZON_DAYS = env_int("TONGBAN_APPOINTMENT_HORIZON_DAYS", 14)
TONGBAN_APPOINTMENT_MAX_OPEN = env_int("TONGBAN_APPOINTMENT_MAX_OPEN", 3)
TONGBAN_APPOINTMENT_NOTIFIERS = env_list(
    "TONGBAN_APPOINTMENT_NOTIFIERS", ["tongban.delivery.notifiers.RecordingNotifier"]
)

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
    "tongban.licenses",
    "tongban.datashare",
    "tongban.portal",
    "tongban.workbench",
    "tongban.api",
    "tongban.ops",
    "oauth2_provider",  # the hub's OpenID Connect provider (accounts/sso/)
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
    "tongban.portal.middleware.SilentSignInMiddleware",  # 无感切换 (single sign-on)
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
                "tongban.portal.context_processors.node",
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
# Named by node: cookies ignore ports, so nodes of a local cluster (one host, several ports)
# would otherwise overwrite each other's session, and single sign-on between them could not work.
SESSION_COOKIE_NAME = env_str("TONGBAN_SESSION_COOKIE_NAME", f"tongban_session_{TONGBAN_NODE_CODE}")
SESSION_COOKIE_AGE = 8 * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

TONGBAN_LOG_FORMAT = env_str("TONGBAN_LOG_FORMAT", "json")
TONGBAN_LOG_LEVEL = env_str("TONGBAN_LOG_LEVEL", "INFO")
LOGGING_CONFIG = None  # configured by tongban.core.logging in CoreConfig.ready()

# Single sign-on (accounts/sso/). The hub is the OpenID Connect provider; every node that
# names a hub (TONGBAN_HUB_URL) signs its citizens in there. Its ID tokens are signed with an
# RSA key kept in a file on the hub (`tongban init` creates it; RS256 is what the provider
# library signs with). Nodes authenticate to the hub's token endpoint with their own node key.
TONGBAN_SSO_KEY_FILE = env_path("TONGBAN_SSO_KEY_FILE", TONGBAN_DATA_DIR / "keys" / "oidc.pem")
TONGBAN_SSO_ENABLED = env_str("TONGBAN_SSO", "on") != "off"
# A visitor's first page asks the hub (prompt=none) whether they are signed in there already.
TONGBAN_SSO_SILENT = env_str("TONGBAN_SSO_SILENT", "on") != "off"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (
        TONGBAN_SSO_KEY_FILE.read_text() if TONGBAN_SSO_KEY_FILE.is_file() else ""
    ),
    "OIDC_ISS_ENDPOINT": TONGBAN_NODE_URL.rstrip("/") + "/oidc",
    "OAUTH2_VALIDATOR_CLASS": "tongban.accounts.sso.provider.HubValidator",
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "SCOPES": {"openid": _("sign in"), "profile": _("name, real-name level and enterprises")},
    "DEFAULT_SCOPES": ["openid"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    "ID_TOKEN_EXPIRE_SECONDS": 300,
    # prompt=create: a node's "open an account" sends the person to the hub's sign-up page.
    "OIDC_RP_INITIATED_REGISTRATION_ENABLED": True,
    "OIDC_RP_INITIATED_REGISTRATION_URL": "portal:signup",
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": True,
}

# Staff sign-in security ----------------------------------------------------------------------
# Staff (anyone with a staff record, and every admin or superuser) sign in with a password and a
# TOTP code (django-otp), enrolling an authenticator app at their first sign-in; citizens sign in
# with a password alone. Failed sign-ins, wrong codes included, lock the account name at the
# address it is tried from (django-axes). Staff sessions end when idle and after a maximum. See
# accounts/signin.py (the two-step sign-in), accounts/middleware.py (the page gate and session
# expiry), accounts/permissions.py (staff_scope refuses an unconfirmed web session) and README
# "Staff sign-in".
INSTALLED_APPS += [
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # recovery codes, stored as keyed hashes
    "axes",
]
_AUTH = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
# request.user.is_verified(), from the session.
MIDDLEWARE.insert(_AUTH + 1, "django_otp.middleware.OTPMiddleware")
# After OTPMiddleware and MessageMiddleware: ends idle or too-old staff sessions (with a message)
# and sends unconfirmed staff sessions on workbench and admin pages to the code step.
_MESSAGES = MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware")
MIDDLEWARE.insert(_MESSAGES + 1, "tongban.accounts.middleware.StaffSessionMiddleware")
# Last, so it sees the view's response: answers a lock-out no view answered itself.
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out name before a password
    "django.contrib.auth.backends.ModelBackend",
    "tongban.accounts.backends.IdentityBackend",
]
# Idle and absolute limits of a staff session, in minutes; citizens keep SESSION_COOKIE_AGE.
TONGBAN_STAFF_SESSION_IDLE_MINUTES = env_int("TONGBAN_STAFF_SESSION_IDLE_MINUTES", 30)
TONGBAN_STAFF_SESSION_MAX_HOURS = env_int("TONGBAN_STAFF_SESSION_MAX_HOURS", 10)
# How long a correct password waits for its code (or its enrolment) before starting over.
TONGBAN_SIGNIN_PENDING_MINUTES = 10
TONGBAN_RECOVERY_CODE_COUNT = 10
OTP_TOTP_ISSUER = f"tongban {TONGBAN_NODE_CODE}"
OTP_TOTP_SYNC = True  # follow a phone clock that drifts by a step
AXES_FAILURE_LIMIT = env_int("TONGBAN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("TONGBAN_LOGIN_LOCKOUT_MINUTES", 30))
# An account name at one address: a hall behind one NAT address is not locked out by one
# citizen's typos, and nobody locks a clerk out from elsewhere. Codes are the second wall.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries during a lock-out do not prolong it: "try again in 30 minutes" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# ID numbers and phone numbers are kept as keyed hashes, never in clear (accounts/signin.py).
AXES_USERNAME_CALLABLE = "tongban.accounts.signin.lockout_name"
AXES_LOCKOUT_CALLABLE = "tongban.accounts.signin.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log (AuditEntry)
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_code"]
AXES_VERBOSE = False
# The client address: REMOTE_ADDR, unless the operator says how many proxies in front of the
# node set X-Forwarded-For (a client could forge it otherwise and escape the lock-out).
TONGBAN_TRUSTED_PROXIES = env_int("TONGBAN_TRUSTED_PROXIES", 0)
if TONGBAN_TRUSTED_PROXIES:
    AXES_IPWARE_PROXY_COUNT = TONGBAN_TRUSTED_PROXIES
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Real-name verification methods (accounts/verification.py), by dotted path: in-person
# verification at a window ships; a face-verification provider is added here by a deployment.
TONGBAN_VERIFICATION_METHODS = env_list(
    "TONGBAN_VERIFICATION_METHODS", ["tongban.accounts.verification.InPersonVerification"]
)
