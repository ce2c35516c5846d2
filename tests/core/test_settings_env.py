from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tongban.settings import env


def test_empty_url_means_sqlite_in_wal_mode_under_the_data_dir(tmp_path: Path) -> None:
    config = env.database_config("", data_dir=tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "tongban.sqlite3")
    options = config["OPTIONS"]
    assert isinstance(options, dict)
    assert "journal_mode=WAL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"


def test_postgres_url(tmp_path: Path) -> None:
    config = env.database_config(
        "postgresql://app:pw@db.example:5433/tongban", data_dir=tmp_path, conn_max_age=30
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["HOST"], config["PORT"], config["USER"]) == (
        "tongban",
        "db.example",
        5433,
        "app",
    )
    assert config["CONN_MAX_AGE"] == 30


def test_sqlite_url_gets_the_same_pragmas(tmp_path: Path) -> None:
    config = env.database_config(f"sqlite:///{tmp_path}/other.db", data_dir=tmp_path)
    assert config["NAME"] == f"{tmp_path}/other.db"
    assert "OPTIONS" in config


def test_other_engines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL or SQLite"):
        env.database_config("mysql://root@localhost/x", data_dir=tmp_path)


def test_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_int("X_INT", 0) == 12
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env.env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured):
        env.env_int("X_INT", 0)
