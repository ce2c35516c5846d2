"""Test settings. Every database test runs on whatever `TONGBAN_TEST_DATABASE_URL` names
(PostgreSQL in CI's second pass); unset, on a SQLite file in a temporary directory."""

import tempfile
from pathlib import Path

from tongban.settings.base import *  # noqa: F403
from tongban.settings.env import database_config, env_str


def _test_oidc_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


SECRET_KEY = "test-secret-key-0123456789abcdef0123456789abcdef"  # noqa: S105
DEBUG = False
TONGBAN_DATA_DIR = Path(tempfile.mkdtemp(prefix="tongban-test-"))
STATIC_ROOT = TONGBAN_DATA_DIR / "static"
STATIC_ROOT.mkdir()
MEDIA_ROOT = TONGBAN_DATA_DIR / "media"
TONGBAN_PII_KEY_FILE = TONGBAN_DATA_DIR / "keys" / "pii.json"
TONGBAN_NODE_KEY_DIR = TONGBAN_DATA_DIR / "keys" / "node"
TONGBAN_SEAL_KEY_DIR = TONGBAN_DATA_DIR / "keys" / "seals"
TONGBAN_HUB_KEYS_FILE = TONGBAN_DATA_DIR / "keys" / "hub-keys.json"
TONGBAN_HUB_URL = ""
DATABASES = {
    "default": database_config(env_str("TONGBAN_TEST_DATABASE_URL"), data_dir=TONGBAN_DATA_DIR)
}
# Fixed keys so tests are repeatable; never used outside tests.
TONGBAN_PII_KEYS = {
    "hash_key": "dGVzdC1oYXNoLWtleS0wMTIzNDU2Nzg5YWJjZGVmISE=",
    "active": "t1",
    "encryption_keys": {"t1": "dGVzdC1lbmMta2V5LTAxMjM0NTY3ODlhYmNkZWYhISE="},
}
# The hub's ID-token key, made once per test run (tests play the hub by switching the node code).
TONGBAN_SSO_KEY_FILE = TONGBAN_DATA_DIR / "keys" / "oidc.pem"
OAUTH2_PROVIDER = {**OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEY": _test_oidc_key()}  # noqa: F405
TONGBAN_SSO_SILENT = False  # the tests of single sign-on turn it on where they test it
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
TONGBAN_LOG_FORMAT = "console"
TONGBAN_LOG_LEVEL = "WARNING"
