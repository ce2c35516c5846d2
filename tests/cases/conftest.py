from typing import Any

import pytest

from tests.factories import PersonFactory, StaffFactory
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current


@pytest.fixture
def item(db: None) -> ServiceItem:
    """学历公证: ONLINE and PROXY, implemented by 重庆市司法局 and 成都市司法局."""
    return ServiceItem.objects.get(version=version_current(), name="学历公证")


@pytest.fixture
def citizen(db: None) -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def cq_reviewer(db: None) -> Any:
    return StaffFactory(reviewer=True, department_key="cq-justice")


@pytest.fixture
def cq_approver(db: None) -> Any:
    return StaffFactory(approver=True, department_key="cq-justice")


def form_for(person: Any) -> dict[str, str]:
    return {
        "applicant_name": person.name,
        "id_number": person.id_number,
        "phone": person.phone,
        "statement": "申请学历公证，用于在外省办理落户。",
    }


PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# What a window clerk records before forwarding a case of the generic scenario.
FORWARD = {
    "identity": {"method": "id_card_reader", "document": "resident_id_card", "holder": "applicant"},
    "checklist": {"identity": "present"},
}


def scan_identity(clerk_user: Any, number: str) -> None:
    """The clerk scans the applicant's ID card in (the generic scenario's one material)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tongban.cases import services

    services.material_upload(
        actor=clerk_user,
        number=number,
        spec_key="identity",
        upload=SimpleUploadedFile("id-card.pdf", PDF, content_type="application/pdf"),
    )
