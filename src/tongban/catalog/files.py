"""Catalogue files: JSON (the documents as they are), CSV and XLSX (one row per item, nested
parts as JSON in their cells). All three round-trip losslessly through export → import.

Spreadsheet cells that a spreadsheet program would run as a formula (starting with = + - @,
a tab or a carriage return) are written with a leading apostrophe, and so is a value that
itself starts with an apostrophe; reading strips exactly one. That defuses formula injection
without changing any value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from tongban.catalog.documents import ITEM_FIELDS

FORMAT = "tongban-catalog"
MAX_FILE_BYTES = 20 * 1024 * 1024
XLSX_CELL_LIMIT = 32_767  # Excel's own limit; openpyxl would cut longer cells silently
MAX_ITEMS = 20_000
_LIST_COLUMNS = ("modes", "cooperating_units", "themes")
_JSON_COLUMNS = ("scenarios", "implementations")
COLUMNS = (*ITEM_FIELDS, "lead_unit", *_LIST_COLUMNS, *_JSON_COLUMNS)
_BOOLEAN_COLUMNS = ("code_provisional", "batch_inferred")
_INTEGER_COLUMNS = ("seq", "min_real_name_level")
_RISKY_START = ("=", "+", "-", "@", "\t", "\r", "'")


class FileRejected(ValueError):
    """The file cannot be read at all (format, encoding, size, columns)."""


@dataclass(frozen=True)
class ParsedFile:
    documents: list[Any]
    rows: list[int]  # the file row (or list position) of each document, for error reports


def _escape(value: str) -> str:
    return "'" + value if value.startswith(_RISKY_START) else value


def _unescape(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in {"json", "csv", "xlsx"}:
        raise FileRejected(_("Use a .json, .csv or .xlsx file."))
    return suffix


# Writing ------------------------------------------------------------------------------------


def write_file(path: Path, documents: Sequence[dict[str, Any]], *, version: int) -> None:
    kind = _format_of(path)
    if kind == "json":
        payload = {"format": FORMAT, "version": version, "items": list(documents)}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return
    rows = [_to_row(document) for document in documents]
    if kind == "xlsx":
        for row in rows:
            for column, text in row.items():
                if len(text) > XLSX_CELL_LIMIT:
                    raise FileRejected(
                        _(
                            "Item %(code)s does not fit a spreadsheet cell (%(column)s); "
                            "export as JSON."
                        )
                        % {"code": row["code"], "column": column}
                    )
    if kind == "csv":
        # UTF-8 with a byte-order mark: Excel on Windows then reads the Chinese correctly.
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows([[row[column] for column in COLUMNS] for row in rows])
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("items")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[column] for column in COLUMNS])
    workbook.save(path)


def _to_row(document: dict[str, Any]) -> dict[str, str]:
    row: dict[str, str] = {}
    for column in COLUMNS:
        value = document.get(column)
        if column in _LIST_COLUMNS:
            text = "|".join(value or [])
        elif column in _JSON_COLUMNS:
            text = json.dumps(value or [], ensure_ascii=False, sort_keys=True)
        elif column in _BOOLEAN_COLUMNS:
            text = "true" if value else "false"
        elif value is None:
            text = ""
        else:
            text = str(value)
        row[column] = _escape(text)
    return row


# Reading ------------------------------------------------------------------------------------


def read_file(path: Path) -> ParsedFile:
    kind = _format_of(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FileRejected(
            _("The file is larger than %(mb)d MB.") % {"mb": MAX_FILE_BYTES // (1024 * 1024)}
        )
    if kind == "json":
        return _read_json(_decode(path.read_bytes()))
    if kind == "csv":
        # Nested parts are JSON in one cell: allow cells as large as the file may be.
        csv.field_size_limit(MAX_FILE_BYTES)
        try:
            return _from_rows(csv.reader(io.StringIO(_decode(path.read_bytes()), newline="")))
        except csv.Error as error:
            raise FileRejected(
                _("The CSV file cannot be read: %(error)s") % {"error": error}
            ) from None
    return _from_rows(_xlsx_rows(path))


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM); GB18030 as spreadsheets on Chinese Windows save it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRejected(_("The file is neither UTF-8 nor GB18030 text."))


def _read_json(text: str) -> ParsedFile:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise FileRejected(
            _("The file is not valid JSON (line %(line)d).") % {"line": error.lineno}
        ) from None
    except RecursionError:
        raise FileRejected(_("The file nests too deeply.")) from None
    items = payload.get("items") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise FileRejected(_('A JSON catalogue holds a list of items under "items".'))
    if len(items) > MAX_ITEMS:
        raise FileRejected(_("The file holds more than %(n)d items.") % {"n": MAX_ITEMS})
    return ParsedFile(documents=items, rows=list(range(1, len(items) + 1)))


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=False)
    except (BadZipFile, KeyError, OSError, ValueError):
        raise FileRejected(_("The file is not a readable .xlsx workbook.")) from None
    try:
        sheet = workbook["items"] if "items" in workbook.sheetnames else workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield ["" if value is None else str(value) for value in values]
    finally:
        workbook.close()


def _from_rows(rows: Iterator[list[str]] | Any) -> ParsedFile:
    iterator = iter(rows)
    try:
        header = [cell.strip().lstrip("\ufeff") for cell in next(iterator)]
    except StopIteration:
        raise FileRejected(_("The file is empty.")) from None
    missing = [column for column in COLUMNS if column not in header]
    unknown = [column for column in header if column and column not in COLUMNS]
    if missing or unknown:
        raise FileRejected(
            _("Wrong columns. Missing: %(missing)s. Unknown: %(unknown)s.")
            % {"missing": ", ".join(missing) or "-", "unknown": ", ".join(unknown) or "-"}
        )
    documents: list[Any] = []
    numbers: list[int] = []
    for number, cells in enumerate(iterator, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(documents) >= MAX_ITEMS:
            raise FileRejected(_("The file holds more than %(n)d items.") % {"n": MAX_ITEMS})
        values = dict(zip(header, (_unescape(cell) for cell in cells), strict=False))
        documents.append(_from_row(values))
        numbers.append(number)
    return ParsedFile(documents=documents, rows=numbers)


def _from_row(values: dict[str, str]) -> dict[str, Any]:
    """A row back into a document. Values that do not parse are passed on as they are, so the
    document check reports them against their field instead of failing the whole file."""
    document: dict[str, Any] = {}
    for column in COLUMNS:
        text = values.get(column, "")
        if column in _LIST_COLUMNS:
            document[column] = [part for part in text.split("|") if part]
        elif column in _JSON_COLUMNS:
            try:
                document[column] = json.loads(text) if text.strip() else []
            except (json.JSONDecodeError, RecursionError):
                document[column] = text
        elif column in _BOOLEAN_COLUMNS:
            document[column] = {"true": True, "false": False, "": False}.get(
                text.strip().lower(), text
            )
        elif column in _INTEGER_COLUMNS:
            document[column] = (
                int(text) if text.strip().isdigit() else (None if not text.strip() else text)
            )
        elif column == "lead_unit":
            document[column] = text or None
        else:
            document[column] = text
    return document
