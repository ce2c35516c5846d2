"""Reading configuration from the environment, with clear errors for bad values."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default


def database_config(url: str, *, data_dir: Path, conn_max_age: int = 0) -> dict[str, object]:
    """Django DATABASES["default"] for a URL; an empty URL means the embedded SQLite file.

    SQLite runs in WAL mode with IMMEDIATE transactions, so the web server and the worker
    can write side by side without "database is locked" upgrades mid-transaction.
    """
    if not url:
        return sqlite_config(data_dir / "tongban.sqlite3")
    import dj_database_url

    config = dict(dj_database_url.parse(url, conn_max_age=conn_max_age))
    engine = str(config.get("ENGINE", ""))
    if engine.endswith("sqlite3"):
        return sqlite_config(Path(str(config["NAME"])))
    if not engine.endswith("postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must name PostgreSQL or SQLite, got engine {engine!r}"
        )
    config["ATOMIC_REQUESTS"] = False
    config["CONN_HEALTH_CHECKS"] = True
    return config


def sqlite_config(path: Path) -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        },
    }
