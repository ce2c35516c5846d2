"""Uploads: real kinds only, within the limit, by the right people, stored safely."""

import hashlib
import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from tests.cases.conftest import form_for
from tests.conftest import login
from tests.factories import PersonFactory
from tongban.cases import services
from tongban.cases.models import Material
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _ofd() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("OFD.xml", "<ofd:OFD/>")
        archive.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return buffer.getvalue()


@pytest.fixture
def case(item, citizen):
    return services.case_submit(
        actor=citizen.user,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(citizen),
    )


def _upload(actor, case, name: str, content: bytes, spec_key: str = "identity"):
    return services.material_upload(
        actor=actor, number=case.number, spec_key=spec_key, upload=SimpleUploadedFile(name, content)
    )


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("身份证.pdf", PDF, "application/pdf"),
        ("scan.PNG", PNG, "image/png"),
        ("id.ofd", _ofd(), "application/ofd"),
    ],
)
def test_a_real_file_is_stored_by_id_with_its_hash(case, citizen, name, content, kind) -> None:
    material = _upload(citizen.user, case, name, content)
    assert material.content_type == kind
    assert material.sha256 == hashlib.sha256(content).hexdigest()
    assert material.path.startswith(f"cases/{case.pk}/")
    assert name.rsplit(".", 1)[0] not in material.path  # never the upload's own name
    with default_storage.open(material.path) as stored:
        assert stored.read() == content
    assert material.original_name == name
    assert material.scan_status == "not_scanned"
    assert case.events.filter(action="attach").count() == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.pdf", PNG),  # the extension lies
        ("doc.png", PDF),
        ("virus.exe", b"MZ\x90\x00"),
        ("noext", PDF),
        ("fake.ofd", b"PK\x03\x04 not a zip"),
    ],
)
def test_files_whose_name_and_content_disagree_are_refused(case, citizen, name, content) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _upload(citizen.user, case, name, content)
    assert "file" in problem.value.fields
    assert not Material.objects.exists()


@override_settings(TONGBAN_MAX_UPLOAD_BYTES=1024)
def test_oversize_and_empty_files_are_refused(case, citizen) -> None:
    with pytest.raises(ValidationFailed, match="validation_failed"):
        _upload(citizen.user, case, "big.pdf", PDF + b"0" * 2048)
    with pytest.raises(ValidationFailed):
        _upload(citizen.user, case, "empty.pdf", b"")
    assert not Material.objects.exists()


def test_unknown_spec_strangers_and_closed_cases(case, citizen, cq_reviewer) -> None:
    with pytest.raises(ValidationFailed) as problem:
        _upload(citizen.user, case, "a.pdf", PDF, spec_key="nope")
    assert "spec_key" in problem.value.fields
    with pytest.raises(NotFound):  # a stranger: as if there were no such case
        _upload(PersonFactory(with_login=True).user, case, "a.pdf", PDF)
    with pytest.raises(Forbidden):  # the deciding department sees the case, adds no papers
        _upload(cq_reviewer.user, case, "a.pdf", PDF)
    services.case_act(actor=cq_reviewer.user, number=case.number, action="accept")
    with pytest.raises(Conflict):
        _upload(citizen.user, case, "a.pdf", PDF)


@override_settings(TONGBAN_ANTIVIRUS="tests.cases.test_materials.AlwaysInfected")
def test_the_antivirus_hook_can_refuse_and_leaves_no_file(case, citizen) -> None:
    before = (
        set(default_storage.listdir(f"cases/{case.pk}")[1])
        if default_storage.exists(f"cases/{case.pk}")
        else set()
    )
    with pytest.raises(ValidationFailed, match="validation_failed"):
        _upload(citizen.user, case, "a.pdf", PDF)
    after = (
        set(default_storage.listdir(f"cases/{case.pk}")[1])
        if default_storage.exists(f"cases/{case.pk}")
        else set()
    )
    assert after == before
    assert not Material.objects.exists()


class AlwaysInfected:
    def scan(self, path):
        from tongban.cases.scanning import ScanResult

        return ScanResult("infected", "EICAR")


def test_upload_over_the_api(api, case, citizen) -> None:
    login(api, citizen.user)
    response = api.post(
        f"/api/v1/cases/{case.number}/materials",
        {
            "spec_key": "identity",
            "file": SimpleUploadedFile("身份证.pdf", PDF, content_type="application/pdf"),
        },
    )
    assert response.status_code == 201
    assert response.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    lying = api.post(
        f"/api/v1/cases/{case.number}/materials",
        {
            "spec_key": "identity",
            "file": SimpleUploadedFile("x.pdf", PNG, content_type="application/pdf"),
        },
    )
    assert lying.status_code == 400
    assert "file" in lying.json()["fields"]
