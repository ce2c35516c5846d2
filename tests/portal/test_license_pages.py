"""The holder's wallet (我的证照) and the public verification pages: a licence issued by an
approved 学历公证 case shows up for its holder only, is presented with a five-minute code that
a verifier's phone opens, and verifies (or says exactly why not) from its QR text or PDF."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import zlib
from typing import Any

import base45
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from tests.cases.license_support import approved
from tests.conftest import login
from tests.factories import PersonFactory, StaffFactory
from tongban.api.licenses import MAX_PDF_BYTES
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import ValidationFailed
from tongban.licenses import selectors, services, verification
from tongban.licenses.credential import PREFIX
from tongban.licenses.models import License

pytestmark = pytest.mark.django_db

WALLET = "/me/licenses/"
VERIFY = "/licenses/verify/"
HAS_PDF = importlib.util.find_spec("tongban.licenses.pdf") is not None
needs_pdf = pytest.mark.skipif(
    not HAS_PDF, reason="tongban.licenses.pdf (the signed PDF) is still being written"
)


def zh(message: Any) -> str:
    """A message as the portal shows it (Chinese), whether or not it is translated yet."""
    with translation.override("zh-hans"):
        return str(message)


def verdict(page: str) -> str:
    """The verification code of the result panel."""
    found = re.search(r'class="verdict [^"]*" data-code="([a-z_]+)"', page)
    assert found is not None, "no result panel"
    return found.group(1)


@pytest.fixture
def staff() -> dict[str, Any]:
    return {
        "reviewer": StaffFactory(reviewer=True, department_key="cq-justice"),
        "approver": StaffFactory(approver=True, department_key="cq-justice"),
    }


@pytest.fixture
def holder() -> Any:
    return PersonFactory(with_login=True)


@pytest.fixture
def licence(holder: Any, staff: dict[str, Any]) -> License:
    """The notarial certificate an approved 学历公证 case issues to ``holder``."""
    item = ServiceItem.objects.get(version=version_current(), name="学历公证")
    return License.objects.get(case=approved(item, staff, holder))


def revoke(licence: License, staff: dict[str, Any], reason: str = "公证书存在错误") -> License:
    return services.license_revoke(
        actor=staff["approver"].user, identifier=licence.identifier, reason=reason
    )


# The wallet -----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in(client: Client) -> None:
    response = client.get(WALLET)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/me/licenses/")


def test_the_wallet_lists_the_holders_licence_and_no_one_elses(
    client: Client, holder: Any, licence: License
) -> None:
    login(client, holder.user)
    page = client.get(WALLET).content.decode()
    assert f'href="{WALLET}{licence.identifier}/"' in page
    assert licence.name in page
    assert licence.number in page
    assert "重庆市司法局" in page
    assert licence.issued_on.isoformat() in page
    assert 'class="state license-state license-valid"' in page
    assert f'href="{WALLET}"' in page  # the header's 我的证照 entry

    other = PersonFactory(with_login=True)
    login(client, other.user)
    page = client.get(WALLET).content.decode()
    assert licence.identifier not in page
    assert 'class="license-empty"' in page


def test_someone_else_gets_404_for_the_licence_its_pdf_and_a_presentation(
    client: Client, licence: License
) -> None:
    login(client, PersonFactory(with_login=True).user)
    detail = f"{WALLET}{licence.identifier}/"
    for response in (
        client.get(detail),
        client.get(f"{detail}pdf"),
        client.post(detail),
    ):
        assert response.status_code == 404
        page = response.content.decode()
        assert licence.holder_name not in page
        assert "/licenses/p/" not in page


def test_the_licence_page_shows_the_face_and_the_offline_qr_code(
    client: Client, holder: Any, licence: License
) -> None:
    login(client, holder.user)
    response = client.get(f"{WALLET}{licence.identifier}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    page = response.content.decode()
    for label, value in licence.surface:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    assert licence.holder_code_masked in page
    assert holder.id_number not in page
    assert page.count('class="qr-code"') == 1  # the credential; no presentation code yet
    assert 'action="#presentation"' in page
    assert f'href="{WALLET}{licence.identifier}/pdf"' in page


def test_a_revoked_licence_says_so_and_cannot_be_presented(
    client: Client, holder: Any, licence: License, staff: dict[str, Any]
) -> None:
    revoke(licence, staff)
    login(client, holder.user)
    wallet = client.get(WALLET).content.decode()
    assert 'class="license-card card-revoked"' in wallet
    assert "公证书存在错误" in wallet
    assert timezone.localdate().isoformat() in wallet
    page = client.get(f"{WALLET}{licence.identifier}/").content.decode()
    assert 'class="notice-ended"' in page
    assert "公证书存在错误" in page
    assert 'action="#presentation"' not in page
    assert 'class="qr-code"' not in page
    refused = client.post(f"{WALLET}{licence.identifier}/")
    assert refused.status_code == 409
    assert "/licenses/p/" not in refused.content.decode()


# Presenting -----------------------------------------------------------------------------------


def test_a_presentation_code_opens_the_verified_licence_for_five_minutes(
    client: Client, holder: Any, licence: License
) -> None:
    login(client, holder.user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response = client.post(f"{WALLET}{licence.identifier}/")
    assert response.status_code == 200
    page = response.content.decode()
    url = re.search(r'<a href="(http://testserver/licenses/p/[^"]+/)"', page)
    assert url is not None
    assert page.count('class="qr-code"') == 2  # the presentation code and the credential
    expires = timezone.localtime(start + dt.timedelta(seconds=selectors.PRESENTATION_SECONDS))
    assert expires.strftime("%H:%M:%S") in page
    assert 'data-seconds="300"' in page

    verifier = Client()
    path = url.group(1).removeprefix("http://testserver")
    with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
        shown = verifier.get(path)
    assert shown.status_code == 200
    shown_page = shown.content.decode()
    assert verdict(shown_page) == "valid"
    assert zh(verification.REASONS["valid"]) in shown_page
    assert licence.holder_name in shown_page
    assert licence.holder_code_masked in shown_page
    assert holder.id_number not in shown_page
    assert zh(_("Confirmed by the issuer just now")) in shown_page

    with time_machine.travel(start + dt.timedelta(seconds=301), tick=False):
        expired = verifier.get(path)
        with pytest.raises(ValidationFailed) as gone:
            selectors.presentation_open(path.split("/")[-2])
    assert expired.status_code == 410
    expired_page = expired.content.decode()
    assert zh(gone.value.message) in expired_page
    assert licence.holder_name not in expired_page


def test_an_unknown_presentation_code_is_404(client: Client) -> None:
    response = client.get("/licenses/p/1.2.156.3005.2.X:abc:def/")
    assert response.status_code == 404
    assert "verdict" not in response.content.decode()


# The verify page ------------------------------------------------------------------------------


def test_the_verify_page_offers_paste_upload_and_scan(client: Client) -> None:
    page = client.get(VERIFY).content.decode()
    assert 'name="text"' in page
    assert 'type="file" name="file"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "data-scan" in page
    assert "portal/license-scan.js" in page
    assert f'href="{VERIFY}"' in page  # the footer link, for everyone


def test_a_valid_credential_verifies(client: Client, licence: License) -> None:
    response = client.post(VERIFY, {"form": "text", "text": licence.credential})
    assert response.status_code == 200
    page = response.content.decode()
    assert verdict(page) == "valid"
    assert zh(verification.REASONS["valid"]) in page
    assert licence.holder_name in page
    assert licence.holder_code_masked in page
    assert licence.number in page
    assert "重庆市司法局" in page


def test_a_tampered_credential_is_not_valid_and_says_why(client: Client, licence: License) -> None:
    text = licence.credential
    middle = len(PREFIX) + (len(text) - len(PREFIX)) // 2
    changed = "A" if text[middle] != "A" else "B"
    tampered = text[:middle] + changed + text[middle + 1 :]
    response = client.post(VERIFY, {"form": "text", "text": tampered})
    assert response.status_code == 200
    page = response.content.decode()
    code = verdict(page)
    assert code in ("malformed", "bad_signature")
    assert zh(verification.REASONS[code]) in page
    assert licence.holder_name not in page  # nothing unsigned is shown


def test_a_forged_holder_name_breaks_the_signature(client: Client, licence: License) -> None:
    # A well-formed credential whose payload was edited (and packed again): what a forger
    # makes, as opposed to a damaged text.
    raw = zlib.decompress(base45.b45decode(licence.credential.removeprefix(PREFIX)))
    name = licence.holder_name.encode()
    forged_name = ("李" + licence.holder_name[1:]).encode()
    assert len(forged_name) == len(name)
    assert forged_name != name
    forged = PREFIX + base45.b45encode(zlib.compress(raw.replace(name, forged_name))).decode()
    page = client.post(VERIFY, {"form": "text", "text": forged}).content.decode()
    assert verdict(page) == "bad_signature"
    assert zh(verification.REASONS["bad_signature"]) in page
    assert "verdict-invalid" in page
    assert forged_name.decode() not in page


def test_a_revoked_licence_is_not_valid(
    client: Client, licence: License, staff: dict[str, Any]
) -> None:
    revoke(licence, staff)
    page = client.post(VERIFY, {"form": "text", "text": licence.credential}).content.decode()
    assert verdict(page) == "revoked"
    assert zh(verification.REASONS["revoked"]) in page
    assert "verdict-invalid" in page
    assert "公证书存在错误" not in page  # the reason is for the holder, not every verifier


@pytest.mark.parametrize("text", ["", "   \n", "TB1:", "没有证照", "a.b.c", "x" * 5000])
def test_bad_text_says_why_and_never_fails(client: Client, text: str) -> None:
    response = client.post(VERIFY, {"form": "text", "text": text})
    page = response.content.decode()
    if text.strip():
        assert response.status_code == 200
        assert verdict(page) == "malformed"
        assert zh(verification.REASONS["malformed"]) in page
    else:
        assert response.status_code == 400
        assert 'class="msg msg-error"' in page
        assert "data-code=" not in page


def test_a_pdf_form_without_a_file_says_so(client: Client) -> None:
    response = client.post(VERIFY, {"form": "pdf"})
    assert response.status_code == 400
    assert 'class="msg msg-error"' in response.content.decode()


def test_a_pdf_over_20_mb_is_refused(client: Client) -> None:
    big = SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * MAX_PDF_BYTES, "application/pdf")
    response = client.post(VERIFY, {"form": "pdf", "file": big})
    assert response.status_code == 400
    assert "20 MB" in response.content.decode()


@needs_pdf
def test_the_pdf_downloads_and_verifies(client: Client, holder: Any, licence: License) -> None:
    login(client, holder.user)
    response = client.get(f"{WALLET}{licence.identifier}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{licence.identifier}.pdf"'
    assert "no-store" in response["Cache-Control"]
    data = response.content
    assert data.startswith(b"%PDF")
    anonymous = Client()
    page = anonymous.post(
        VERIFY, {"form": "pdf", "file": SimpleUploadedFile("l.pdf", data, "application/pdf")}
    ).content.decode()
    assert verdict(page) == "valid"
    assert licence.holder_name in page


@needs_pdf
def test_a_file_that_is_not_a_pdf_says_so(client: Client) -> None:
    upload = SimpleUploadedFile("photo.pdf", b"\x89PNG\r\n\x1a\nnot a pdf", "application/pdf")
    response = client.post(VERIFY, {"form": "pdf", "file": upload})
    assert response.status_code == 200
    page = response.content.decode()
    assert verdict(page) == "malformed_pdf"
    assert zh(verification.REASONS["malformed_pdf"]) in page
