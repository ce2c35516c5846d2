"""What an uploaded file really is. Pure: no Django.

The extension a browser sends is a claim; the first bytes are evidence. A file is accepted only
when both agree on one of the kinds a material may be: PDF, JPEG, PNG or OFD (the Chinese
fixed-layout format: a ZIP whose entries include OFD.xml).
"""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO

EXTENSIONS = {"pdf": "pdf", "jpg": "jpeg", "jpeg": "jpeg", "png": "png", "ofd": "ofd"}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "ofd": "application/ofd",
}


def sniff(head: bytes, stream: BinaryIO | None = None) -> str | None:
    """The kind of file from its first bytes (and, for ZIP containers, its entries)."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"PK\x03\x04") and stream is not None:
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                names = {name.rsplit("/", 1)[-1] for name in archive.namelist()[:1000]}
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        finally:
            stream.seek(0)
        return "ofd" if "OFD.xml" in names else None
    return None


def extension_kind(filename: str) -> str | None:
    _stem, dot, extension = filename.rpartition(".")
    return EXTENSIONS.get(extension.lower()) if dot else None


def sniff_bytes(content: bytes) -> str | None:
    return sniff(content[:16], io.BytesIO(content))
