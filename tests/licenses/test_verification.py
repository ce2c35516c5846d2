"""Verifying on this node: a QR text or a signed PDF of a licence it issued, through the one
function the verify page, the API and `tongban license verify` share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.licenses.test_issuing import approved, item, staff  # noqa: F401 (fixtures)
from tongban.catalog.models import ServiceItem
from tongban.licenses import selectors, services, verification
from tongban.licenses.models import License

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(item: ServiceItem, staff: dict[str, Any]) -> License:  # noqa: F811
    return License.objects.get(case=approved(item, staff))


@pytest.fixture
def signed_pdf(issued: License) -> bytes:
    return selectors.license_pdf(issued)


def test_a_licence_of_this_node_verifies(issued: License) -> None:
    outcome = verification.verify_text(issued.credential)
    assert (outcome.valid, outcome.code, outcome.form) == (True, "valid", "qr")
    assert (outcome.issuer, outcome.node, outcome.status_source) == (
        "重庆市司法局",
        "500000",
        "issuer",
    )
    assert outcome.claims["lid"] == issued.identifier


def test_a_revoked_licence_is_not_valid(issued: License, staff: dict[str, Any]) -> None:  # noqa: F811
    services.license_revoke(
        actor=staff["approver"].user, identifier=issued.identifier, reason="撤销"
    )
    outcome = verification.verify_text(issued.credential)
    assert (outcome.valid, outcome.code) == (False, "revoked")
    assert outcome.claims["lid"] == issued.identifier  # what it is, and why it fails
    assert str(outcome.message)


def test_truncated_and_garbage_texts_are_malformed(issued: License) -> None:
    for text in (issued.credential[:-20], "", "TB1:", "hello", "a.b.c", "TB1:" + "%" * 5000):
        outcome = verification.verify_text(text)
        assert (outcome.valid, outcome.code, outcome.claims) == (False, "malformed", {})


def test_an_expired_licence_says_so(
    item: ServiceItem,  # noqa: F811
    staff: dict[str, Any],  # noqa: F811
) -> None:
    from tongban.licenses.models import LicenseType

    LicenseType.objects.filter(name="公证书").update(valid_years=1)
    issued = License.objects.get(case=approved(item, staff))
    assert issued.valid_until is not None
    with time_machine.travel(timezone.now() + dt.timedelta(days=400)):
        outcome = verification.verify_text(issued.credential)
    assert (outcome.valid, outcome.code) == (False, "expired")


def test_a_signed_pdf_verifies_offline(issued: License, signed_pdf: bytes) -> None:
    outcome = verification.verify_pdf(signed_pdf)
    assert (outcome.valid, outcome.code, outcome.form) == (True, "valid", "pdf")
    assert outcome.claims["lid"] == issued.identifier


def test_a_pdf_with_something_appended_is_modified(signed_pdf: bytes) -> None:
    outcome = verification.verify_pdf(signed_pdf + b"\n%% appended page\n")
    assert (outcome.valid, outcome.code) == (False, "modified")


def test_a_pdf_with_a_changed_byte_is_refused(signed_pdf: bytes) -> None:
    at = signed_pdf.index(b"stream") + 40
    changed = signed_pdf[:at] + bytes([signed_pdf[at] ^ 0x01]) + signed_pdf[at + 1 :]
    outcome = verification.verify_pdf(changed)
    assert outcome.valid is False
    assert outcome.code in ("bad_signature", "malformed_pdf")


def test_a_pdf_from_an_unknown_issuer_is_refused(issued: License, signed_pdf: bytes) -> None:
    from tongban.licenses.models import Seal

    Seal.objects.filter(pk=issued.seal_id).update(kid="someone-else")
    outcome = verification.verify_pdf(signed_pdf)
    assert (outcome.valid, outcome.code) == (False, "unknown_issuer")


def test_not_a_pdf(issued: License) -> None:
    assert verification.verify_pdf(b"%PDF-1.7 nothing else").code == "malformed_pdf"
    assert verification.verify_pdf(b"").code == "malformed_pdf"


def test_the_api_verifies_text_and_pdf(issued: License, signed_pdf: bytes) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    answer = client.post(
        "/api/v1/licenses/verify", {"text": issued.credential}, content_type="application/json"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["valid"], body["identifier"], body["issuer"]) == (
        True,
        issued.identifier,
        "重庆市司法局",
    )
    bad = client.post("/api/v1/licenses/verify", {"text": "TB1:X"}, content_type="application/json")
    assert (bad.status_code, bad.json()["valid"], bad.json()["code"]) == (200, False, "malformed")
    assert bad.json()["message"]
    pdf = client.post(
        "/api/v1/licenses/verify/pdf",
        {"file": SimpleUploadedFile("l.pdf", signed_pdf, content_type="application/pdf")},
    )
    assert (pdf.status_code, pdf.json()["valid"], pdf.json()["form"]) == (200, True, "pdf")
    missing = client.post("/api/v1/licenses/verify", {}, content_type="application/json")
    assert missing.status_code in (400, 422)


def test_the_cli_exports_and_verifies(
    issued: License,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    staff: dict[str, Any],  # noqa: F811
) -> None:
    pdf, qr = tmp_path / "licence.pdf", tmp_path / "licence.svg"
    call_command("license", "export", issued.identifier, "--pdf", str(pdf), "--qr", str(qr))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "<svg" in qr.read_text()
    capsys.readouterr()
    call_command("license", "verify", str(pdf))
    assert "VALID (pdf)" in capsys.readouterr().out
    text = tmp_path / "qr.txt"
    text.write_text(issued.credential)
    call_command("license", "verify", str(text))
    assert "VALID (qr)" in capsys.readouterr().out
    services.license_revoke(
        actor=staff["approver"].user, identifier=issued.identifier, reason="撤销"
    )
    with pytest.raises(SystemExit) as failed:
        call_command("license", "verify", str(pdf))
    assert failed.value.code == 1
    assert "NOT VALID (pdf): revoked" in capsys.readouterr().out
    modified = tmp_path / "modified.pdf"
    modified.write_bytes(pdf.read_bytes() + b"\n% added\n")
    with pytest.raises(SystemExit):
        call_command("license", "verify", str(modified))
    assert "NOT VALID (pdf): modified" in capsys.readouterr().out


def test_the_cli_explains_what_it_cannot_read(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("license", "verify", str(tmp_path / "missing.pdf"))
    with pytest.raises(CommandError, match=r"cannot be read|not one to rely on"):
        call_command("license", "verify", "TB1:X", "--trust-list", str(tmp_path / "none.jws"))
    with pytest.raises(CommandError, match="issued no licence"):
        call_command("license", "export", "1.2.156.3005.2.X", "--pdf", str(tmp_path / "x.pdf"))
