"""Production: every secret comes from the environment and the node refuses to start without it."""

from django.core.exceptions import ImproperlyConfigured

from tongban.settings.base import *  # noqa: F403
from tongban.settings.base import SECRET_KEY
from tongban.settings.env import env_bool

if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be set (at least 32 characters) in production")

DEBUG = False
SESSION_COOKIE_SECURE = env_bool("TONGBAN_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
