"""The printable licence: rendering, the PAdES signature, and the check of a signed PDF.

poppler's ``pdfsig`` is the independent validator, ``pdftotext`` and ``pdftoppm`` read the page
back (``make test`` installs poppler-utils and fonts-noto-cjk when they are missing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import segno
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from tongban.licenses import bench, credential, pdf, seals
from tongban.licenses.signing import P256Signer, p256_jwk

SUBJECT = seals.SealSubject(
    department="重庆市司法局", code="11500000MB1527373J", platform="渝快办", division="500000"
)
TODAY = dt.date(2026, 12, 3)
POPPLER = {tool: shutil.which(tool) or "" for tool in ("pdfsig", "pdftotext", "pdftoppm")}
needs_poppler = pytest.mark.skipif(
    not all(POPPLER.values()), reason="poppler-utils (pdfsig, pdftotext, pdftoppm) is not installed"
)


@dataclasses.dataclass(frozen=True)
class Issued:
    signer: P256Signer
    certificate: str
    face: pdf.Face
    unsigned: bytes
    signed: bytes


@pytest.fixture(scope="module")
def font() -> Path:
    try:
        return pdf.find_font(pdf.DEFAULT_FONTS)
    except pdf.PdfError:
        pytest.skip("no CJK font (apt-get install fonts-noto-cjk)")


@pytest.fixture(scope="module")
def issued(font: Path) -> Issued:
    """One licence rendered and signed for the whole module: rendering takes most of a second."""
    signer = P256Signer.generate()
    now = dt.datetime.now(dt.UTC)
    certificate = seals.certificate(
        signer, SUBJECT, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=3)
    )
    face = _face(signer)
    unsigned = pdf.render(face, seal_svg=_seal_svg(), font=font)
    signed = pdf.sign(
        unsigned, private_key=signer.private_key, certificate_pem=certificate, location="重庆"
    )
    return Issued(signer, certificate, face, unsigned, signed)


def _face(signer: P256Signer) -> pdf.Face:
    claims = bench.typical_claims(TODAY)
    return pdf.Face(
        title="公证书",
        number="（2026）渝证字第000123号",
        holder="张三",
        holder_code="5001**********1234",
        issuer="重庆市司法局",
        issued_on="2026-12-03",
        validity="2026-12-03 至 长期",
        surface=(("公证事项", "学历公证"), ("申请人", "张三，男，1990年3月7日出生")),
        identifier=claims["lid"],
        credential=credential.encode(claims, signer),
    )


def _seal_svg() -> str:
    return seals.image_svg(SUBJECT.department, code=SUBJECT.code)


def _poppler(tool: str, *arguments: str, check: bool = True) -> str:
    result = subprocess.run(  # noqa: S603 — poppler's tool by its full path, on our own files
        [POPPLER[tool], *arguments], capture_output=True, text=True, check=check
    )
    return result.stdout


def _pdfsig(data: bytes, tmp_path: Path, *options: str) -> str:
    path = tmp_path / "licence.pdf"
    path.write_bytes(data)
    # pdfsig exits 0 even on "Digest Mismatch." (non-zero only when it cannot read the file):
    # its report is what is checked.
    return _poppler("pdfsig", *options, str(path), check=False)


# Signing --------------------------------------------------------------------------------------


@needs_poppler
def test_pdfsig_finds_the_whole_document_signed_and_valid(issued: Issued, tmp_path: Path) -> None:
    path = tmp_path / "licence.pdf"
    path.write_bytes(issued.signed)
    report = _poppler("pdfsig", str(path))  # exits 0
    assert "Signature Validation: Signature is Valid." in report
    assert "Total document signed" in report
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Signing Hash Algorithm: SHA-256" in report
    assert "重庆市司法局 电子印章" in report  # the certificate embedded in the signature
    assert "Signature is Valid." in _poppler("pdfsig", "-nocert", str(path))


def test_inspect_names_the_seal_key_and_reads_the_credential(issued: Issued) -> None:
    check = pdf.inspect(issued.signed)
    assert check.kid == issued.signer.kid
    assert check.public_jwk == p256_jwk(issued.signer.private_key.public_key())
    assert check.certificate_pem.strip() == issued.certificate.strip()
    assert check.credential == issued.face.credential
    assert check.identifier == issued.face.identifier
    assert check.signed_at is not None
    assert abs(check.signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    # The credential read back is the signed one the QR carries: it verifies offline.
    keys = {issued.signer.kid: credential.TrustedKey(issued.signer.public_jwk(), bench.ISSUER)}.get
    assert credential.verify(check.credential, keys, today=TODAY)


def test_a_certificate_of_another_key_is_refused(issued: Issued) -> None:
    other = P256Signer.generate()
    with pytest.raises(pdf.PdfError) as caught:
        pdf.sign(issued.unsigned, private_key=other.private_key, certificate_pem=issued.certificate)
    assert caught.value.code == "key_mismatch"


# Tampering --------------------------------------------------------------------------------------


def _page_content_offset(data: bytes) -> int:
    """Where the first page's content stream lies in the file."""
    page = PdfFileReader(io.BytesIO(data)).root["/Pages"]["/Kids"][0]
    contents = page["/Contents"]
    if isinstance(contents, generic.ArrayObject):
        contents = contents[0].get_object()
    encoded = contents.encoded_data
    assert data.count(encoded) == 1
    return data.index(encoded) + len(encoded) // 2


@needs_poppler
def test_a_changed_byte_of_page_content_breaks_the_signature(
    issued: Issued, tmp_path: Path
) -> None:
    data = bytearray(issued.signed)
    offset = _page_content_offset(issued.signed)
    data[offset] ^= 0x01
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(bytes(data))
    assert caught.value.code == "bad_signature"
    report = _pdfsig(bytes(data), tmp_path)
    assert "Signature is Valid." not in report
    assert "Digest Mismatch" in report


def test_a_changed_credential_breaks_the_signature(issued: Issued) -> None:
    # The information dictionary as the signed revision has it (pyHanko rewrote it there).
    offset = issued.signed.rindex(b"/TongbanCredential (TB1") + len(b"/TongbanCredential (TB1")
    offset += 10
    data = bytearray(issued.signed)
    data[offset] = ord("Q") if data[offset] != ord("Q") else ord("R")
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(bytes(data))
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("tail", [b"\n", b"%%EOF\n", b"\n1 0 obj\n(forged)\nendobj\n" * 200])
def test_bytes_after_the_signed_file_are_a_modification(issued: Issued, tail: bytes) -> None:
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(issued.signed + tail)
    assert caught.value.code == "modified"


def _updated_info(signed: bytes) -> bytes:
    """An incremental update that swaps the credential for another one."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    info = generic.DictionaryObject(
        {generic.pdf_name(pdf.CREDENTIAL_KEY): generic.TextStringObject("TB1:FORGED")}
    )
    writer.set_info(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _annotated(signed: bytes) -> bytes:
    """An incremental update that adds a note on the page, as a PDF viewer would."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    note = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (50, 50, 80, 80)]
                ),
                generic.pdf_name("/Contents"): generic.TextStringObject("已注销"),
            }
        )
    )
    page[generic.pdf_name("/Annots")] = generic.ArrayObject([note])
    writer.update_container(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@needs_poppler
@pytest.mark.parametrize("update", [_updated_info, _annotated])
def test_an_incremental_update_is_a_modification(
    issued: Issued, update: Callable[[bytes], bytes], tmp_path: Path
) -> None:
    changed = update(issued.signed)
    assert changed.startswith(issued.signed)
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(changed)
    assert caught.value.code == "modified"
    # pdfsig agrees: the signature itself holds, but not over the whole document.
    report = _pdfsig(changed, tmp_path)
    assert "Signature is Valid." in report
    assert "Not total document signed" in report


def test_a_second_signature_is_a_modification(issued: Issued) -> None:
    twice = pdf.sign(
        issued.signed,
        private_key=issued.signer.private_key,
        certificate_pem=issued.certificate,
    )
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(twice)
    assert caught.value.code == "modified"


def test_an_unsigned_licence_is_unsigned(issued: Issued) -> None:
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(issued.unsigned)
    assert caught.value.code == "unsigned"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"%PDF-1.7\n",
        b"%PDF-1.7\n" + b"\x00" * 1000 + b"\n%%EOF\n",
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF",
    ],
)
def test_what_is_not_a_pdf_is_malformed(data: bytes) -> None:
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(data)
    assert caught.value.code == "malformed"


def test_a_truncated_or_oversized_pdf_is_malformed(issued: Issued) -> None:
    for data in (issued.signed[: len(issued.signed) // 2], issued.signed[:-300]):
        with pytest.raises(pdf.PdfError) as caught:
            pdf.inspect(data)
        assert caught.value.code in {"malformed", "modified"}
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(issued.signed[: len(issued.signed) // 2])
    assert caught.value.code == "malformed"
    with pytest.raises(pdf.PdfError) as caught:
        pdf.inspect(issued.signed + b" " * pdf.MAX_BYTES)
    assert caught.value.code == "malformed"


def test_no_byte_flip_lets_anything_but_pdf_error_escape(issued: Issued) -> None:
    """A byte changed anywhere (header, objects, signature, xref, trailer): inspect answers with
    a PdfError, or, where the byte lay outside what the signature protects and changed nothing
    that matters (the zero padding of the signature's slot), with the same answer as before."""
    expected = pdf.inspect(issued.signed)
    signed = issued.signed
    answers = set()
    for offset in range(0, len(signed), max(1, len(signed) // 97)):
        data = bytearray(signed)
        data[offset] ^= 0x5A
        try:
            check = pdf.inspect(bytes(data))
        except pdf.PdfError as error:
            answers.add(error.code)
        else:
            assert (check.kid, check.credential) == (expected.kid, expected.credential)
    assert answers <= {"malformed", "unsigned", "bad_signature", "modified"}
    assert "bad_signature" in answers


# The page -------------------------------------------------------------------------------------


@needs_poppler
def test_the_chinese_text_is_on_the_page(issued: Issued, tmp_path: Path) -> None:
    path = tmp_path / "licence.pdf"
    path.write_bytes(issued.signed)
    text = _poppler("pdftotext", "-enc", "UTF-8", str(path), "-")
    squeezed = "".join(text.split())
    for expected in (
        "公证书",  # printed spaced out
        "（2026）渝证字第000123号",
        "张三",
        "5001**********1234",
        "学历公证",
        "张三，男，1990年3月7日出生",
        "重庆市司法局",
        "2026年12月3日",
        "扫码核验",
        issued.face.identifier,
        SUBJECT.code,  # the seal's lower line
    ):
        assert expected in squeezed, expected


@needs_poppler
def test_the_qr_code_on_the_page_is_the_credential(issued: Issued, tmp_path: Path) -> None:
    path = tmp_path / "licence.pdf"
    path.write_bytes(issued.signed)
    _poppler("pdftoppm", "-png", "-gray", "-r", "300", str(path), str(tmp_path / "page"))
    image = Image.open(tmp_path / "page-1.png").convert("L")
    dots = 300 / 25.4
    # The QR code is the dark square of the page's lower left (the caption is under it).
    box = (int(15 * dots), int(160 * dots), int(100 * dots), int(262 * dots))
    region = image.crop(box).point(lambda value: 255 if value < 128 else 0)
    left, top, right, _ = region.getbbox() or (0, 0, 0, 0)
    expected = [list(row) for row in segno.make(issued.face.credential, error="m").matrix]
    module = (right - left) / len(expected)
    assert module * 25.4 / 300 > 0.4  # mm: large enough for a phone camera off paper
    seen = [
        [
            region.getpixel((int(left + (c + 0.5) * module), int(top + (r + 0.5) * module))) == 255
            for c in range(len(expected))
        ]
        for r in range(len(expected))
    ]
    assert seen == [[bool(value) for value in row] for row in expected]


def _content(data: bytes) -> bytes:
    page = PdfFileReader(io.BytesIO(data)).root["/Pages"]["/Kids"][0]
    return bytes(page["/Contents"].data)


def test_the_same_face_gives_the_same_page(issued: Issued, font: Path) -> None:
    again = pdf.render(issued.face, seal_svg=_seal_svg(), font=font)
    assert _content(again) == _content(issued.unsigned)
    info = PdfFileReader(io.BytesIO(again)).trailer_view["/Info"]
    assert info["/TongbanCredential"] == issued.face.credential
    assert info["/TongbanIdentifier"] == issued.face.identifier
    assert info["/Title"] == "公证书 （2026）渝证字第000123号"


@needs_poppler
def test_a_long_face_runs_onto_more_pages_and_still_verifies(
    issued: Issued, font: Path, tmp_path: Path
) -> None:
    words = "兹证明前面的复印件与张三所持有的重庆大学于二〇一二年六月三十日颁发的毕业证书原件相符。"
    face = dataclasses.replace(
        issued.face,
        title="中华人民共和国道路运输经营许可证",
        issuer="国家税务总局重庆市渝中区税务局第一税务所",
        surface=tuple((f"事项{n}", words * 3) for n in range(8)),
    )
    svg = seals.image_svg(face.issuer, code=SUBJECT.code)
    signed = pdf.sign(
        pdf.render(face, seal_svg=svg, font=font),
        private_key=issued.signer.private_key,
        certificate_pem=issued.certificate,
    )
    assert pdf.inspect(signed).credential == face.credential
    pages = PdfFileReader(io.BytesIO(signed)).root["/Pages"]["/Count"]
    assert pages >= 2
    assert "Signature is Valid." in _pdfsig(signed, tmp_path)
    last = _poppler(
        "pdftotext", "-f", str(pages), "-enc", "UTF-8", str(tmp_path / "licence.pdf"), "-"
    )
    assert "扫码核验" in last  # the QR code and the seal close the licence


def test_a_character_the_font_lacks_is_refused(issued: Issued, font: Path) -> None:
    face = dataclasses.replace(issued.face, holder="张\U00020000")  # CJK extension B
    with pytest.raises(pdf.PdfError) as caught:
        pdf.render(face, seal_svg=_seal_svg(), font=font)
    assert caught.value.code == "no_glyph"
    assert "U+20000" in caught.value.message


@pytest.mark.parametrize(
    ("seal_svg", "changes", "code"),
    [
        ("<html>", {}, "bad_seal"),
        ("<svg xmlns='http://www.w3.org/2000/svg'", {}, "bad_seal"),
        (None, {"credential": ""}, "no_credential"),
        (None, {"credential": "TB1:" + "A" * 5000}, "too_long"),
    ],
)
def test_what_cannot_be_printed_is_refused(
    issued: Issued, font: Path, seal_svg: str | None, changes: dict[str, str], code: str
) -> None:
    face = dataclasses.replace(issued.face, **changes)
    with pytest.raises(pdf.PdfError) as caught:
        pdf.render(face, seal_svg=seal_svg or _seal_svg(), font=font)
    assert caught.value.code == code


# Fonts ----------------------------------------------------------------------------------------


def test_the_first_existing_font_is_found(tmp_path: Path) -> None:
    present = tmp_path / "b.ttf"
    present.write_bytes(b"")
    assert pdf.find_font([tmp_path / "a.ttc", present, tmp_path / "c.ttf"]) == present
    with pytest.raises(pdf.PdfError) as caught:
        pdf.find_font([tmp_path / "a.ttc"])
    assert caught.value.code == "no_font"
    assert str(tmp_path / "a.ttc") in caught.value.message


def test_the_simplified_chinese_face_of_a_collection_is_used(font: Path) -> None:
    if font.suffix != ".ttc" or "Noto" not in font.name:
        pytest.skip("not a Noto CJK collection")
    number = pdf._face_number(font)
    assert number == 2  # Noto CJK's faces: JP, KR, SC, TC, HK, then the Mono ones
