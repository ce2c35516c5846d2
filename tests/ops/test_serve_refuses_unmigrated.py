import pytest
from django.core.management import CommandError, call_command

from tongban.ops.management.commands import serve


@pytest.mark.django_db
def test_serve_refuses_to_start_on_a_database_with_pending_migrations(monkeypatch) -> None:
    monkeypatch.setattr(serve, "_pending_migrations", lambda: ["accounts.0002_life_events"])
    with pytest.raises(CommandError, match="tongban init"):
        call_command("serve", "--no-worker")


@pytest.mark.django_db
def test_the_test_database_has_no_pending_migrations() -> None:
    assert serve._pending_migrations() == []
