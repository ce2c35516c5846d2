"""The printable licence (电子证照版式文件): an A4 PDF of a licence's face, signed with the issuing
department's seal as a PAdES signature, and the check of such a PDF. Pure: no Django.

``render`` lays out the face (title, number, the table of fields, the seal stamped over the issuer
and date, the QR code of the credential) with fpdf2, and writes the credential and the licence
identifier into the document information dictionary (``/TongbanCredential``,
``/TongbanIdentifier``) so a verifier reads them without decoding the image. ``sign`` adds a
PAdES baseline B-B signature (``ETSI.CAdES.detached``, SHA-256, ECDSA P-256, the seal's
certificate embedded) with pyHanko; poppler's ``pdfsig`` validates it. ``inspect``
checks that a PDF carries exactly one signature, intact and covering the whole file, and reports
the signer's key: whether that key is trusted is the caller's decision (the hub's trust list).

Fonts: Chinese text needs a CJK font; ``find_font`` picks the first of ``DEFAULT_FONTS`` (or of
the deployment's list) that exists. TrueType/OpenType collections (``.ttc``) are read directly;
the Simplified Chinese face of a collection is chosen once per process.

``sign`` and ``inspect`` run pyHanko, whose synchronous API starts an asyncio event loop: call
them from synchronous code (a view, a background task), not from inside a running loop.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import segno
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from defusedxml import ElementTree
from fontTools.ttLib import TTCollection
from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, VAlign, WrapMode
from fpdf.fonts import FontFace
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import FormFillingError, PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tongban.licenses.signing import jwk_thumbprint, p256_jwk

DEFAULT_FONTS: tuple[Path, ...] = (
    # Debian/Ubuntu fonts-noto-cjk. The sans face (思源黑体) first: the seal image asks for it,
    # and its simpler outlines make subsetting a fifth faster than the serif (思源宋体), which a
    # deployment may prefer for the look of printed documents.
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    # Fedora/RHEL and Arch put the same collections elsewhere.
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSerifCJK-Regular.ttc"),
    # Older Debian CJK fonts (fonts-wqy-zenhei, fonts-wqy-microhei, fonts-arphic-uming). Not
    # DroidSansFallback: it has no Latin letters or digits.
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
MAX_BYTES = 20 * 1024 * 1024  # a one-page licence is ~100 kB; anything this big is not one
CREDENTIAL_KEY = "/TongbanCredential"
IDENTIFIER_KEY = "/TongbanIdentifier"
SIGNATURE_FIELD = "TongbanSeal"


class PdfError(ValueError):
    """Why a licence PDF cannot be made or accepted: ``code`` for programs, ``message`` for
    people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Face:
    """What is printed on a licence; the caller composes every string."""

    title: str  # licence name, e.g. 公证书
    number: str  # printed number, e.g. （2026）渝司字第000001号
    holder: str
    holder_code: str  # masked ID number or unified social credit code
    issuer: str  # issuing department
    issued_on: str  # 2026-12-03
    validity: str  # e.g. 2026-12-03 至 长期
    surface: tuple[tuple[str, str], ...]  # label/value rows of the licence type's face
    identifier: str  # 1.2.156.3005.2.…
    credential: str  # the QR text TB1:…


@dataclass(frozen=True)
class PdfCheck:
    """A signed licence PDF whose signature is intact and covers the whole file."""

    certificate_pem: str  # the signer's certificate
    public_jwk: dict[str, str]  # its P-256 public key
    kid: str  # the key's JWK thumbprint: the seal's key id
    signed_at: dt.datetime | None  # as the signer claims it (/M); no timestamp authority
    credential: str  # /TongbanCredential of the signed revision ("" if absent)
    identifier: str  # /TongbanIdentifier of the signed revision ("" if absent)


# Fonts ----------------------------------------------------------------------------------------


def find_font(candidates: Iterable[Path | str]) -> Path:
    """The first of ``candidates`` that is a file; PdfError ``no_font`` if none is."""
    tried = []
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path
        tried.append(str(path))
    raise PdfError(
        "no_font",
        "no CJK font found (tried: " + ", ".join(tried) + "); install fonts-noto-cjk",
    )


def _face_number(font: Path) -> int:
    """Which face of a collection to use: its Simplified Chinese one (Noto's ``… CJK SC``)."""
    if font.suffix.lower() not in (".ttc", ".otc"):
        return 0
    stat = font.stat()
    return _collection_face(str(font), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _collection_face(path: str, _mtime_ns: int, _size: int) -> int:
    """Reading the names of a collection's faces takes ~50 ms: done once per file and process
    (the modification time and size in the key notice a replaced file)."""
    collection = TTCollection(path, lazy=True)
    try:
        names = [str(face["name"].getBestFamilyName() or "") for face in collection.fonts]
    finally:
        collection.close()
    sans_mono = [number for number, name in enumerate(names) if "Mono" not in name]
    simplified = [number for number in sans_mono if names[number].endswith(" SC")]
    return (simplified or sans_mono or [0])[0]


# Rendering ------------------------------------------------------------------------------------

_FAMILY = "tongban"  # the name the document's one font goes by, in the page and in the seal SVG
_INK = "#1a1a1a"
_MUTED = "#5a5a5a"
_FRAME = "#1f3b63"
_LABEL_FILL = "#eef1f5"
_PAGE_W, _PAGE_H = 210.0, 297.0
_MARGIN = 25.0
_QR_SIZE = 40.0  # mm: a version-16 code (~650 characters) gets 0.49 mm modules
_SEAL_SIZE = 42.0  # mm: the common size of a department's round seal
_BLOCK_H = 50.0  # the QR code with its caption; the seal is no taller
_FOOTER_Y = _PAGE_H - _MARGIN - 7  # the identifier and the notice, in the bottom margin


def render(face: Face, *, seal_svg: str, font: Path) -> bytes:
    """An unsigned A4 PDF of ``face``: title and number, the table of fields, the seal stamped
    over the issuer and date, the QR code of the credential, and the credential and identifier
    in the document information dictionary. The same face gives the same page content.

    PdfError: ``no_glyph`` if the font lacks a character of the face (a licence is not printed
    with a box in place of a name's character), ``bad_seal`` if the seal SVG cannot be read,
    ``too_long`` if the credential does not fit a QR code, ``no_credential`` if there is none.
    """
    seal = _Seal.parse(seal_svg)
    if not face.credential:
        raise PdfError("no_credential", "a licence is printed with its credential's QR code")
    try:
        qr = segno.make(face.credential, error="m")
    except segno.DataOverflowError as error:
        raise PdfError("too_long", "the credential does not fit a QR code") from error
    pdf = _Page(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_MARGIN + 10)
    characters = {ord(char) for text in _texts(face, seal) for char in text}
    pdf.add_font(
        _FAMILY,
        "",
        str(font),
        collection_font_number=_face_number(font),
        # Only what the page shows: a CJK font maps ~45,000 characters, and reading them all
        # costs more than the rest of the page.
        unicode_range=sorted(characters | _ASCII),
    )
    pdf.add_page()
    _title(pdf, face)
    _table(pdf, face)
    # The QR code and the seal sit just above the footer, or under a long table; a table too
    # long for them to fit under it moves them to a page of their own.
    lowest = _FOOTER_Y - 3 - _BLOCK_H
    top = max(pdf.get_y() + 8, lowest)
    if top > lowest:
        pdf.add_page()
        top = _MARGIN + 10
    _qr(pdf, qr, x=_MARGIN + 5, y=top)
    _issuer(pdf, face, seal, centre_x=_PAGE_W - _MARGIN - 38, y=top)
    pdf.set_auto_page_break(auto=False)  # the footer sits in the bottom margin
    _footer(pdf, face)
    data = bytes(pdf.output())
    missing = pdf.fonts[_FAMILY].missing_glyphs  # type: ignore[union-attr]
    if missing:
        raise PdfError(
            "no_glyph",
            "the font has no glyph for " + ", ".join(f"{chr(c)!r} (U+{c:04X})" for c in missing),
        )
    return _with_info(data, face)


class _Page(FPDF):
    def header(self) -> None:
        """Every page gets the frame (a long face runs onto a second page)."""
        _frame(self)


def _texts(face: Face, seal: _Seal) -> list[str]:
    """Every text the page shows (the font is loaded for their characters only)."""
    return [
        face.title,
        face.number,
        face.holder,
        face.holder_code,
        face.issuer,
        _date(face.issued_on),
        face.validity,
        _IDENTIFIER_LINE.format(face.identifier),
        *(text for row in face.surface for text in row),
        *_LABELS.values(),
        _CAPTION,
        _NOTICE,
        *seal.texts(),
    ]


_ASCII = set(range(0x20, 0x7F))
_LABELS = {
    "holder": "持证主体",
    "holder_code": "证件号码",
    "validity": "有效期限",
    "issuer": "发证机关",
    "issued_on": "发证日期",
}
_CAPTION = "扫码核验"
_IDENTIFIER_LINE = "证照标识：{}"
_NOTICE = "本证照为电子证照版式文件，由发证机关电子印章签名；扫描二维码或校验文件签名可核验真伪。"


def _frame(pdf: FPDF) -> None:
    pdf.set_draw_color(_FRAME)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, _PAGE_W - 20, _PAGE_H - 20)
    pdf.set_line_width(0.25)
    pdf.rect(12.5, 12.5, _PAGE_W - 25, _PAGE_H - 25)


def _title(pdf: FPDF, face: Face) -> None:
    width = _PAGE_W - 2 * _MARGIN
    size = 30.0
    pdf.set_font(_FAMILY, size=size)
    plain = pdf.get_string_width(face.title)
    while plain > width and size > 12:  # a long licence name: smaller, never cut
        size -= 2
        pdf.set_font(_FAMILY, size=size)
        plain = pdf.get_string_width(face.title)
    # Short names are spaced out as on printed certificates (公 证 书), up to 1 em.
    gaps = max(len(face.title) - 1, 1)
    spacing = max(0.0, min(size * 0.8, (width * 0.6 - plain) / gaps * 72 / 25.4))
    pdf.set_text_color(_INK)
    pdf.set_char_spacing(spacing)
    spaced = plain + spacing * 25.4 / 72 * (len(face.title) - 1)
    pdf.text(x=(_PAGE_W - spaced) / 2, y=_MARGIN + 20, text=face.title)
    pdf.set_char_spacing(0)
    pdf.set_font(_FAMILY, size=12)
    pdf.set_text_color(_MUTED)
    pdf.set_xy(_MARGIN, _MARGIN + 27)
    pdf.cell(w=width, h=7, text=face.number, align=Align.C)
    pdf.set_y(_MARGIN + 42)


def _table(pdf: FPDF, face: Face) -> None:
    rows = [
        (_LABELS["holder"], face.holder),
        (_LABELS["holder_code"], face.holder_code),
        *face.surface,
        (_LABELS["validity"], face.validity),
        (_LABELS["issuer"], face.issuer),
        (_LABELS["issued_on"], _date(face.issued_on)),
    ]
    pdf.set_font(_FAMILY, size=11)
    pdf.set_text_color(_INK)
    pdf.set_draw_color("#9aa6b8")
    pdf.set_line_width(0.2)
    label_style = FontFace(color=_MUTED, fill_color=_LABEL_FILL)
    with pdf.table(
        col_widths=(32, 128),
        width=160,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.ALL,
        text_align=(Align.C, Align.L),
        v_align=VAlign.M,
        line_height=6.5,
        padding=(2.2, 3),
        wrapmode=WrapMode.CHAR,  # Chinese has no spaces to break at
        min_row_height=11,
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=label_style)
            row.cell(value)


def _date(value: str) -> str:
    """2026-12-03 → 2026年12月3日, as Chinese documents print dates; anything else as given."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    if not match:
        return value
    year, month, day = (int(part) for part in match.groups())
    return f"{year}年{month}月{day}日"


def _qr(pdf: FPDF, qr: segno.QRCode, *, x: float, y: float) -> None:
    """The QR code as vector squares, one rectangle per run of dark modules in a row."""
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=0)]
    module = _QR_SIZE / len(rows)
    pdf.set_fill_color("#000000")
    for r, row in enumerate(rows):
        for start, length in _runs(row):
            # A hair taller than a module: rows overlap, so no light seams between them.
            pdf.rect(x + start * module, y + r * module, length * module, module + 0.02, "F")
    pdf.set_font(_FAMILY, size=10)
    pdf.set_text_color(_INK)
    pdf.set_xy(x, y + _QR_SIZE + 2)
    pdf.cell(w=_QR_SIZE, h=6, text=_CAPTION, align=Align.C)


def _runs(row: Sequence[int]) -> Iterator[tuple[int, int]]:
    start = None
    for index, dark in enumerate([*row, False]):
        if dark and start is None:
            start = index
        elif not dark and start is not None:
            yield start, index - start
            start = None


def _issuer(pdf: FPDF, face: Face, seal: _Seal, *, centre_x: float, y: float) -> None:
    """The issuer's name and the date, right of centre, with the seal stamped across both."""
    width = 76.0
    pdf.set_text_color(_INK)
    pdf.set_font(_FAMILY, size=13)
    pdf.set_xy(centre_x - width / 2, y + 12)
    pdf.multi_cell(w=width, h=7, text=face.issuer, align=Align.C, wrapmode=WrapMode.CHAR)
    pdf.set_x(centre_x - width / 2)
    pdf.cell(w=width, h=9, text=_date(face.issued_on), align=Align.C)
    svg = seal.for_pdf(pdf)
    # Ink on paper: the seal darkens what is under it instead of hiding it.
    with pdf.local_context(blend_mode="MULTIPLY"):
        pdf.image(
            io.BytesIO(svg),
            x=centre_x - _SEAL_SIZE / 2,
            y=y + 20 - _SEAL_SIZE / 2,
            w=_SEAL_SIZE,
            h=_SEAL_SIZE,
        )


def _footer(pdf: FPDF, face: Face) -> None:
    width = _PAGE_W - 2 * _MARGIN
    pdf.set_font(_FAMILY, size=8)
    pdf.set_text_color(_MUTED)
    pdf.set_xy(_MARGIN, _FOOTER_Y)
    pdf.multi_cell(w=width, h=4.5, text=_IDENTIFIER_LINE.format(face.identifier), align=Align.C)
    pdf.set_x(_MARGIN)
    pdf.multi_cell(w=width, h=4.5, text=_NOTICE, align=Align.C, wrapmode=WrapMode.CHAR)


def _with_info(data: bytes, face: Face) -> bytes:
    """The document rewritten in one revision with our information dictionary (fpdf2 writes
    only the standard entries)."""
    reader = PdfFileReader(io.BytesIO(data))
    info = generic.DictionaryObject(  # type: ignore[no-untyped-call]
        {
            generic.pdf_name("/Title"): generic.TextStringObject(f"{face.title} {face.number}"),
            generic.pdf_name("/Author"): generic.TextStringObject(face.issuer),
            generic.pdf_name("/Subject"): generic.TextStringObject("电子证照"),
            generic.pdf_name("/Keywords"): generic.TextStringObject(face.identifier),
            generic.pdf_name("/Creator"): generic.TextStringObject("tongban"),
            generic.pdf_name(CREDENTIAL_KEY): generic.TextStringObject(face.credential),
            generic.pdf_name(IDENTIFIER_KEY): generic.TextStringObject(face.identifier),
        }
    )
    writer = copy_into_new_writer(reader, {"info": info})
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


# The seal image ---------------------------------------------------------------------------------

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_ARC = re.compile(
    r"\s*M\s*(?P<x0>[-\d.]+)[\s,]+(?P<y0>[-\d.]+)\s*A\s*(?P<rx>[-\d.]+)[\s,]+(?P<ry>[-\d.]+)"
    r"[\s,]+[-\d.]+[\s,]+(?P<large>[01])[\s,]*(?P<sweep>[01])[\s,]+(?P<x1>[-\d.]+)[\s,]+"
    r"(?P<y1>[-\d.]+)\s*"
)


@dataclass(frozen=True)
class _Seal:
    """The seal's SVG, prepared for fpdf2: its text set in the document's font, and the name
    along the ring (an SVG ``textPath``, which fpdf2 does not draw) turned into one rotated
    character after another."""

    root: Element  # SVG's namespace dropped from the tags: fpdf2 wants a plain <svg> root

    @classmethod
    def parse(cls, svg: str) -> _Seal:
        try:
            root = ElementTree.fromstring(svg)
        except Exception as error:  # defusedxml's and expat's errors alike
            raise PdfError("bad_seal", f"the seal image is not SVG: {error}") from None
        root = _plain(root)
        if root.tag != "svg":
            raise PdfError("bad_seal", "the seal image is not SVG")
        return cls(root)

    def texts(self) -> list[str]:
        return ["".join(text.itertext()) for text in self.root.iter("text")]

    def for_pdf(self, pdf: FPDF) -> bytes:
        root = _plain(self.root)  # a copy: the parsed seal stays as it came
        paths = {
            element.get("id"): element.get("d", "")
            for element in root.iter("path")
            if element.get("id")
        }
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag != "text":
                    continue
                _restyle(child)
                text_path = child.find("textPath")
                if text_path is not None:
                    parent.remove(child)
                    parent.insert(index, _along_arc(pdf, child, text_path, paths))
        root.set("xmlns", _SVG[1:-1])
        return tostring(root, encoding="utf-8")


def _plain(element: Element) -> Element:
    """A copy of ``element`` with SVG's namespace taken off its and its children's tags."""
    copied = Element(element.tag.removeprefix(_SVG), dict(element.attrib))
    copied.text, copied.tail = element.text, element.tail
    for child in element:
        copied.append(_plain(child))
    return copied


def _restyle(text: Element) -> None:
    """Our font for every text; bold (which the one font has not) drawn as a stroke of the
    text's own colour, as a seal's cut characters look."""
    text.set("font-family", _FAMILY)
    if text.attrib.pop("font-weight", "normal") in ("bold", "bolder", "600", "700", "800", "900"):
        size = _number(text.get("font-size"), 16.0)
        text.set("stroke", text.get("fill", "#000000"))
        text.set("stroke-width", f"{size * 0.035:.2f}")


def _along_arc(
    pdf: FPDF, text: Element, text_path: Element, paths: dict[str | None, str]
) -> Element:
    """One ``<text>`` per character, placed and turned along the circular arc the textPath
    follows (centred at ``startOffset`` when ``text-anchor`` is middle, as in the seal)."""
    group = Element("g")
    href = text_path.get("href") or text_path.get(_XLINK_HREF) or ""
    match = _ARC.fullmatch(paths.get(href.removeprefix("#"), ""))
    characters = "".join(text_path.itertext()).strip()
    if match is None or not characters:
        return group  # not an arc we can follow: the seal keeps its ring and star
    arc = _Arc.from_svg(match)
    size = _number(text.get("font-size"), 16.0)
    spacing = _number(text.get("letter-spacing"), 0.0)
    pdf.set_font(_FAMILY, size=10)
    em = 10 * 25.4 / 72
    advances = [pdf.get_string_width(char) / em * size for char in characters]
    total = sum(advances) + spacing * (len(characters) - 1)
    if total > arc.length * 0.98:  # a long name: smaller characters, as a seal engraver would
        scale = arc.length * 0.98 / total
        size, spacing, total = size * scale, spacing * scale, total * scale
        advances = [advance * scale for advance in advances]
    offset_text = text_path.get("startOffset", "0")
    if offset_text.endswith("%"):
        offset = arc.length * _number(offset_text[:-1], 0.0) / 100
    else:
        offset = _number(offset_text, 0.0)
    anchor = text_path.get("text-anchor") or text.get("text-anchor") or "start"
    position = offset - {"middle": total / 2, "end": total}.get(anchor, 0.0)
    inherited = {
        key: value
        for key, value in text.attrib.items()
        if key not in ("x", "y", "text-anchor", "letter-spacing")
    }
    for char, advance in zip(characters, advances, strict=True):
        # The glyph's middle sits on the arc, its baseline along the tangent there; it is
        # placed by its start (fpdf2 anchors rotated text unreliably).
        x, y, angle = arc.at(position + advance / 2)
        x -= advance / 2 * math.cos(math.radians(angle))
        y -= advance / 2 * math.sin(math.radians(angle))
        glyph = SubElement(group, "text", inherited)
        glyph.set("font-size", f"{size:.2f}")
        glyph.set("x", f"{x:.2f}")
        glyph.set("y", f"{y:.2f}")
        glyph.set("transform", f"rotate({angle:.2f} {x:.2f} {y:.2f})")
        glyph.text = char
        position += advance + spacing
    return group


@dataclass(frozen=True)
class _Arc:
    cx: float
    cy: float
    r: float
    start: float  # radians, SVG's y-down angles
    sweep: float  # signed radians

    @classmethod
    def from_svg(cls, match: re.Match[str]) -> _Arc:
        """SVG's endpoint parametrisation of a circular arc to its centre (SVG 1.1, F.6.5)."""
        x0, y0, x1, y1 = (float(match[name]) for name in ("x0", "y0", "x1", "y1"))
        r = abs(float(match["rx"]))
        large, positive = match["large"] == "1", match["sweep"] == "1"
        hx, hy = (x0 - x1) / 2, (y0 - y1) / 2
        half = math.hypot(hx, hy)
        r = max(r, half)  # too small a radius is scaled up, as SVG says
        coefficient = math.sqrt(max(r * r - half * half, 0.0)) / half if half else 0.0
        if large == positive:
            coefficient = -coefficient
        cx = coefficient * hy + (x0 + x1) / 2
        cy = -coefficient * hx + (y0 + y1) / 2
        start = math.atan2(y0 - cy, x0 - cx)
        sweep = math.atan2(y1 - cy, x1 - cx) - start
        if positive and sweep < 0:
            sweep += 2 * math.pi
        elif not positive and sweep > 0:
            sweep -= 2 * math.pi
        return cls(cx, cy, r, start, sweep)

    @property
    def length(self) -> float:
        return abs(self.sweep) * self.r

    def at(self, distance: float) -> tuple[float, float, float]:
        """The point ``distance`` along the arc and the direction of travel there (degrees)."""
        direction = 1.0 if self.sweep >= 0 else -1.0
        theta = self.start + direction * distance / self.r
        x, y = self.cx + self.r * math.cos(theta), self.cy + self.r * math.sin(theta)
        tangent = math.atan2(direction * math.cos(theta), -direction * math.sin(theta))
        return x, y, math.degrees(tangent)


def _number(value: str | None, default: float) -> float:
    try:
        return float(re.sub(r"(px|pt)$", "", (value or "").strip()))
    except ValueError:
        return default


# Signing ----------------------------------------------------------------------------------------


def sign(
    pdf: bytes,
    *,
    private_key: ec.EllipticCurvePrivateKey,
    certificate_pem: str,
    reason: str = "电子证照签发",
    location: str = "",
    name: str = "",
) -> bytes:
    """``pdf`` with a PAdES B-B signature by ``private_key`` over the whole file: SubFilter
    ``ETSI.CAdES.detached``, SHA-256, ECDSA, ``certificate_pem`` embedded.

    PdfError: ``key_mismatch`` if the certificate is not the key's, ``malformed`` if ``pdf``
    cannot be read.
    """
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as error:
        raise PdfError("key_mismatch", f"not a PEM certificate: {error}") from None
    if certificate.public_key() != private_key.public_key():
        raise PdfError("key_mismatch", "the certificate does not certify the signing key")
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    key = asn1_keys.PrivateKeyInfo.load(
        private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([cert]),  # type: ignore[no-untyped-call]
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        taken = {field for field, _, _ in fields.enumerate_sig_fields(writer.prev)}
    except Exception as error:  # pyHanko's parser raises more than its own errors on bad bytes
        raise PdfError("malformed", f"the PDF cannot be read: {error}") from None
    meta = signers.PdfSignatureMetadata(
        # A document already signed keeps its signature; this one goes into a field of its own.
        field_name=next(
            field
            for field in (SIGNATURE_FIELD, *(f"{SIGNATURE_FIELD}{n}" for n in range(2, 100)))
            if field not in taken
        ),
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
        name=name or None,
    )
    try:
        out: io.BytesIO = signers.sign_pdf(writer, meta, signer=signer)
    except (FormFillingError, PdfReadError) as error:  # e.g. an encrypted or locked document
        raise PdfError("malformed", f"the PDF cannot be signed: {error}") from None
    return out.getvalue()


# Checking ---------------------------------------------------------------------------------------


def inspect(pdf: bytes) -> PdfCheck:
    """Whether ``pdf`` is a licence PDF signed once, intact, with nothing after the signature;
    and by which key. No trust decision: compare ``kid`` with the trust list.

    PdfError: ``malformed`` (not a PDF, unreadable, over 20 MB), ``unsigned``,
    ``bad_signature`` (the signed bytes were changed), ``modified`` (something was added after
    the signature, or there is more than one), ``unsupported_key`` (not a P-256 signer).
    Nothing else escapes, whatever the bytes.
    """
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise PdfError("malformed", "not bytes")
    data = bytes(pdf)
    if len(data) > MAX_BYTES:
        raise PdfError("malformed", f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    if b"%PDF-" not in data[:1024]:
        raise PdfError("malformed", "not a PDF")
    try:
        return _inspect(data)
    except PdfError:
        raise
    except Exception as error:  # hostile bytes reach parsers that raise anything; all mean this
        if _signed_before(data):
            raise PdfError("modified", "bytes were appended to the signed file") from None
        raise PdfError("malformed", f"the PDF cannot be read: {type(error).__name__}") from None


def _inspect(data: bytes) -> PdfCheck:
    reader = PdfFileReader(io.BytesIO(data))
    if reader.security_handler is not None:
        raise PdfError("malformed", "an encrypted PDF is not a licence")
    everything = reader.embedded_signatures
    seals = [sig for sig in everything if sig.sig_object_type == "/Sig"]
    if not seals:
        raise PdfError("unsigned", "the PDF is not signed")
    if len(everything) > 1:
        raise PdfError("modified", "the PDF was signed again after the seal")
    sig = seals[0]
    signer_cert = sig.signer_cert
    # Anchoring the path at the signer's own certificate makes the chain check pass for the
    # self-issued seal certificate (and keeps pyHanko from logging a failed path search): trust
    # is decided by the caller from the key, not here.
    context = ValidationContext(
        trust_roots=[signer_cert],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=sig.self_reported_timestamp,
    )
    status = validate_pdf_signature(sig, context, skip_diff=True)
    if not (status.intact and status.valid):
        raise PdfError("bad_signature", "the signature does not match the signed bytes")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise PdfError("modified", "the file was changed after it was signed")
    public_key = x509.load_der_x509_certificate(signer_cert.dump()).public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != (
        "secp256r1"
    ):
        raise PdfError("unsupported_key", "the signer's key is not a P-256 key")
    jwk = p256_jwk(public_key)
    info = _info(reader, sig.signed_revision)
    return PdfCheck(
        certificate_pem=_pem(signer_cert.dump()),
        public_jwk=jwk,
        kid=jwk_thumbprint(jwk),
        signed_at=status.signer_reported_dt,
        credential=_text(info.get(CREDENTIAL_KEY)),
        identifier=_text(info.get(IDENTIFIER_KEY)),
    )


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*0\s+(\d{1,10})\s+(\d{1,10})\s+(\d{1,10})\s*\]")


def _signed_before(data: bytes) -> bool:
    """Whether an unreadable file is a good signed PDF with bytes appended that break the
    parser (a PDF is read from its end): then the answer is ``modified``, not ``malformed``."""
    for match in itertools.islice(_BYTE_RANGE.finditer(data), 4):
        end = int(match[2]) + int(match[3])
        if 0 < end < len(data):
            try:
                _inspect(data[:end])
            except Exception:  # noqa: S112 — any failure: not that signature's whole file
                continue
            return True
    return False


def _info(reader: PdfFileReader, revision: int) -> dict[str, Any]:
    """The information dictionary as it was in the signed revision."""
    trailer = reader.get_historical_resolver(revision).trailer_view
    if "/Info" not in trailer:
        return {}
    info = trailer["/Info"]
    if not isinstance(info, generic.DictionaryObject):
        return {}
    return {str(key): info[key] for key in info}


def _text(value: Any) -> str:
    return str(value) if isinstance(value, generic.TextStringObject | str) else ""


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
