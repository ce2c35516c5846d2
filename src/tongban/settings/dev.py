"""Local development and the demo (`make run`): SQLite under ./var, readable console logs."""

from tongban.settings.base import *  # noqa: F403
from tongban.settings.base import SECRET_KEY as _SECRET_KEY
from tongban.settings.base import STATIC_ROOT
from tongban.settings.env import env_bool, env_str

DEBUG = env_bool("TONGBAN_DEBUG", True)
# NOTE: a fixed development key is acceptable only because production refuses to start without
# its own SECRET_KEY (see production.py).
SECRET_KEY = _SECRET_KEY or "dev-insecure-key-not-for-production-use-0123456789abcdef"
TONGBAN_LOG_FORMAT = env_str("TONGBAN_LOG_FORMAT", "console")
# `tongban serve` collects static files here; WhiteNoise warns if it is missing before that.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
