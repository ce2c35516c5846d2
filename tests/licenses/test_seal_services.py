from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.factories import StaffFactory
from tongban.core.audit import SYSTEM
from tongban.core.errors import Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry
from tongban.licenses import seals, selectors, services
from tongban.licenses.models import Seal
from tongban.regions.models import Department

pytestmark = pytest.mark.django_db


def key_files() -> set[str]:
    directory = Path(settings.TONGBAN_SEAL_KEY_DIR)
    return {p.name for p in directory.glob("*.pem")} if directory.exists() else set()


def test_a_platform_admin_makes_a_seal_that_signs_and_is_certified() -> None:
    admin = StaffFactory(platform_admin=True)
    seal = services.seal_create(actor=admin.user, department_key="cq-forestry")
    department = Department.objects.get(key="cq-forestry")
    assert selectors.seal_current(department=department) == seal
    assert seals.certificate_key_id(seal.certificate) == seal.kid
    signer = selectors.signer_of(seal)
    assert signer.public_jwk() == seal.public_jwk
    assert "重庆市林业局" in seal.image_svg
    assert (seal.not_after - seal.not_before).days == 3 * 365
    assert AuditEntry.objects.filter(action="seal.created", target_id=str(seal.pk)).exists()


def test_a_new_seal_retires_the_current_one() -> None:
    first = services.seal_create(actor=SYSTEM, department_key="cq-forestry")
    second = services.seal_create(actor=SYSTEM, department_key="cq-forestry", years=5)
    first.refresh_from_db()
    assert first.retired_at is not None
    assert second.retired_at is None
    assert Seal.objects.filter(department__key="cq-forestry").count() == 2
    assert {f"{first.kid}.pem", f"{second.kid}.pem"} <= key_files()


@pytest.mark.parametrize(
    "role", [{"window_clerk": True}, {"department_admin": True}, {"supervisor": True}]
)
def test_only_platform_admins_make_seals(role: dict[str, bool]) -> None:
    before = key_files()
    with pytest.raises(Forbidden):
        services.seal_create(actor=StaffFactory(**role).user, department_key="cq-forestry")
    assert not Seal.objects.filter(department__key="cq-forestry").exists()
    assert key_files() == before


def test_bad_input_changes_nothing() -> None:
    before = key_files()
    with pytest.raises(NotFound):
        services.seal_create(actor=SYSTEM, department_key="no-such-department")
    for years in (0, 11, "3"):
        with pytest.raises(ValidationFailed):
            services.seal_create(actor=SYSTEM, department_key="cq-forestry", years=years)  # type: ignore[arg-type]
    assert not Seal.objects.filter(department__key="cq-forestry").exists()
    assert key_files() == before


def test_a_failed_write_leaves_no_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    before = key_files()

    def broken(**fields: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Seal.objects, "create", broken)
    with pytest.raises(RuntimeError):
        services.seal_create(actor=SYSTEM, department_key="cq-forestry")
    assert key_files() == before


def test_the_command_makes_and_lists_seals() -> None:
    out = io.StringIO()
    call_command("license", "seal", "create", "cq-forestry", "--years", "2", stdout=out)
    assert "重庆市林业局" in out.getvalue()
    listing = io.StringIO()
    call_command("license", "seal", "list", stdout=listing)
    assert "cq-forestry" in listing.getvalue()
    assert "current" in listing.getvalue()
    with pytest.raises(CommandError):
        call_command("license", "seal", "create", "nowhere")
