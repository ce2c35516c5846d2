from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from defusedxml import ElementTree

from tongban.licenses import seals
from tongban.licenses.signing import P256Signer

SUBJECT = seals.SealSubject(
    department="重庆市司法局", code="11500000MB1527373J", platform="渝快办", division="500000"
)
START = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_the_certificate_certifies_the_seal_key_for_signing_documents() -> None:
    signer = P256Signer.generate()
    pem = seals.certificate(
        signer, SUBJECT, not_before=START, not_after=START + dt.timedelta(days=3 * 365)
    )
    assert seals.certificate_key_id(pem) == signer.kid
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == (
        "重庆市司法局"
    )
    assert cert.not_valid_before_utc == START
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert seals.DOCUMENT_SIGNING in list(purposes)
    cert.verify_directly_issued_by(cert)  # self-issued by the seal key


def test_a_key_file_is_private_written_once_and_read_back(tmp_path: Path) -> None:
    signer = P256Signer.generate()
    path = seals.save(tmp_path / "seals", signer)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert seals.load(tmp_path / "seals", signer.kid).public_jwk() == signer.public_jwk()
    with pytest.raises(FileExistsError):
        seals.save(tmp_path / "seals", signer)


def test_unusable_key_files_are_refused(tmp_path: Path) -> None:
    signer = P256Signer.generate()
    seals.save(tmp_path, signer)
    other = P256Signer.generate()
    (tmp_path / f"{other.kid}.pem").write_bytes((tmp_path / f"{signer.kid}.pem").read_bytes())
    for kid in (other.kid, "missing", "../../etc/passwd", ""):
        with pytest.raises(seals.SealKeyError):
            seals.load(tmp_path, kid)


def test_the_image_is_svg_with_the_name_on_the_ring() -> None:
    svg = seals.image_svg("重庆市<司法>局", code="11500000MB1527373J")
    root = ElementTree.fromstring(svg)  # well-formed, the name escaped
    assert root.tag.endswith("svg")
    assert "重庆市&lt;司法&gt;局" in svg
    assert "11500000MB1527373J" in svg
