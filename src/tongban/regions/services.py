"""Writes for regions: reference data loading, departments, halls, windows and hours."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from tongban.core.audit import audit_record, diff
from tongban.core.errors import FieldErrors
from tongban.core.logging import get_logger
from tongban.core.validation import check_text, check_uscc
from tongban.regions.models import (
    Department,
    DepartmentKind,
    Division,
    DivisionLevel,
    OpeningPeriod,
    PeriodKind,
    ServiceHall,
    Window,
    WindowKind,
)
from tongban.regions.selectors import division_check

log = get_logger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, *, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1


def _choice(value: str, choices: type[Any], *, field_name: str, errors: FieldErrors) -> str:
    if value not in choices.values:
        errors.add(
            field_name, _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices.values)}
        )
    return value


def _key(value: str, *, field_name: str, errors: FieldErrors) -> str:
    key = (value or "").strip()
    if not key or slugify(key) != key:
        errors.add(field_name, _("A key uses lower-case letters, digits and hyphens only."))
    return key


# Reference data ---------------------------------------------------------------------------


@transaction.atomic
def regions_load_reference(
    *,
    divisions_csv: Path = DATA_DIR / "divisions.csv",
    departments_csv: Path = DATA_DIR / "departments.csv",
    actor: Any | None = None,
) -> LoadReport:
    """Create or update divisions and departments from the shipped reference files.

    Idempotent: running it again changes nothing unless the files changed. Rows are never
    deleted here; a division that leaves GB/T 2260 is marked inactive by an administrator.
    """
    report = LoadReport()
    with divisions_csv.open(encoding="utf-8") as handle:
        rows = sorted(
            csv.DictReader(handle), key=lambda row: (row["parent_code"] != "", row["code"])
        )
    for row in _parents_first(rows):
        _upsert(
            Division,
            lookup={"code": row["code"]},
            values={
                "name": row["name"],
                "level": DivisionLevel(row["level"]),
                "parent_id": row["parent_code"] or None,
            },
            report=report,
            actor=actor,
        )
    with departments_csv.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            _upsert(
                Department,
                lookup={"key": row["key"]},
                values={
                    "name": row["name"],
                    "short_name": row["short_name"],
                    "division_id": row["division_code"],
                    "kind": DepartmentKind(row["kind"]),
                },
                report=report,
                actor=actor,
            )
    log.info("regions.reference_loaded", created=report.created, updated=report.updated)
    return report


def _parents_first(rows: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    by_code = {row["code"]: row for row in rows}
    ordered: list[Mapping[str, str]] = []
    seen: set[str] = set()

    def visit(row: Mapping[str, str]) -> None:
        if row["code"] in seen:
            return
        parent = by_code.get(row["parent_code"])
        if parent is not None:
            visit(parent)
        seen.add(row["code"])
        ordered.append(row)

    for row in rows:
        visit(row)
    return ordered


def _upsert(
    model: Any, *, lookup: dict[str, Any], values: dict[str, Any], report: LoadReport, actor: Any
) -> Any:
    kind = model._meta.model_name
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        report.count(kind, created=True)
        audit_record(actor=actor, action=f"{kind}.created", target=obj, changes=values)
        return obj
    old = {name: getattr(obj, name) for name in values}
    changes = diff(old, values)
    if changes:
        for name, value in values.items():
            setattr(obj, name, value)
        obj.save(update_fields=[name.removesuffix("_id") for name in changes])
        report.count(kind, created=False)
        audit_record(actor=actor, action=f"{kind}.updated", target=obj, changes=changes)
    return obj


# Departments ------------------------------------------------------------------------------


@transaction.atomic
def department_create(
    *,
    actor: Any | None,
    key: str,
    name: str,
    short_name: str,
    division_code: str,
    kind: str,
    uscc: str = "",
) -> Department:
    errors = FieldErrors()
    key = _key(key, field_name="key", errors=errors)
    name = check_text(name, field="name", errors=errors, max_length=128)
    short_name = check_text(short_name, field="short_name", errors=errors, max_length=64)
    division = division_check(division_code, field="division_code", errors=errors)
    _choice(kind, DepartmentKind, field_name="kind", errors=errors)
    normalized_uscc = check_uscc(uscc, field="uscc", errors=errors) if uscc.strip() else ""
    if key and Department.objects.filter(key=key).exists():
        errors.add("key", _("This key is already in use."))
    if short_name and Department.objects.filter(short_name=short_name).exists():
        errors.add("short_name", _("This short name is already in use."))
    if division and name and Department.objects.filter(division=division, name=name).exists():
        errors.add("name", _("This division already has a department of this name."))
    if normalized_uscc and Department.objects.filter(uscc=normalized_uscc).exists():
        errors.add("uscc", _("Another department has this code."))
    errors.raise_if_any()
    assert division is not None  # for the type checker: raise_if_any reported a missing one
    department = Department.objects.create(
        key=key,
        name=name,
        short_name=short_name,
        division=division,
        kind=kind,
        uscc=normalized_uscc or None,
    )
    audit_record(
        actor=actor,
        action="department.created",
        target=department,
        changes={"key": key, "name": name, "division": division_code, "kind": kind},
    )
    log.info("department.created", department_id=department.pk)
    return department


# Halls, windows and hours -----------------------------------------------------------------


@dataclass(frozen=True)
class PeriodSpec:
    weekdays: tuple[int, ...]
    start: dt.time
    end: dt.time
    kind: str


def overlapping_periods(
    periods: Sequence[tuple[Iterable[int], dt.time, dt.time]],
) -> list[int]:
    """Indexes of periods that start before an earlier one on the same weekday has ended."""
    by_day = sorted(
        (day, start, end, index) for index, (days, start, end) in enumerate(periods) for day in days
    )
    found = []
    for (day, _start, end, _index), (next_day, next_start, _end, next_index) in itertools.pairwise(
        by_day
    ):
        if day == next_day and next_start < end and next_index not in found:
            found.append(next_index)
    return found


def _parse_periods(raw: Iterable[Mapping[str, Any]], errors: FieldErrors) -> list[PeriodSpec]:
    specs: list[PeriodSpec] = []
    for index, item in enumerate(raw):
        where = f"opening_periods.{index}"
        try:
            start = dt.time.fromisoformat(str(item["start"]))
            end = dt.time.fromisoformat(str(item["end"]))
            weekdays = tuple(int(day) for day in item["weekdays"])
        except (KeyError, TypeError, ValueError):
            errors.add(where, _("A period needs weekdays (1–7), a start and an end (HH:MM)."))
            continue
        if not weekdays or any(day < 1 or day > 7 for day in weekdays):
            errors.add(where, _("Weekdays are numbered 1 (Monday) to 7 (Sunday)."))
        if start >= end:
            errors.add(where, _("A period must end after it starts."))
        kind = str(item.get("kind", PeriodKind.REGULAR))
        _choice(kind, PeriodKind, field_name=f"{where}.kind", errors=errors)
        specs.append(PeriodSpec(weekdays=weekdays, start=start, end=end, kind=kind))
    for index in overlapping_periods([(spec.weekdays, spec.start, spec.end) for spec in specs]):
        errors.add(f"opening_periods.{index}", _("Periods of the same day must not overlap."))
    return specs


@transaction.atomic
def hall_create(
    *,
    actor: Any | None,
    key: str,
    name: str,
    division_code: str,
    address: str = "",
    phone: str = "",
    opening_periods: Iterable[Mapping[str, Any]] = (),
    windows: Iterable[Mapping[str, Any]] = (),
) -> ServiceHall:
    """Create a service hall with its weekly opening periods and its windows, all or nothing."""
    errors = FieldErrors()
    key = _key(key, field_name="key", errors=errors)
    name = check_text(name, field="name", errors=errors, max_length=128)
    division = division_check(division_code, field="division_code", errors=errors)
    address = check_text(address, field="address", errors=errors, max_length=255, required=False)
    phone = check_text(phone, field="phone", errors=errors, max_length=32, required=False)
    if key and ServiceHall.objects.filter(key=key).exists():
        errors.add("key", _("This key is already in use."))
    periods = _parse_periods(opening_periods, errors)
    window_rows = _parse_windows(windows, errors)
    errors.raise_if_any()
    assert division is not None  # for the type checker: raise_if_any reported a missing one
    hall = ServiceHall.objects.create(
        key=key, name=name, division=division, address=address, phone=phone
    )
    OpeningPeriod.objects.bulk_create(
        OpeningPeriod(hall=hall, weekday=day, start=spec.start, end=spec.end, kind=spec.kind)
        for spec in periods
        for day in spec.weekdays
    )
    for row, departments in window_rows:
        window = Window.objects.create(hall=hall, **row)
        window.departments.set(departments)
    audit_record(
        actor=actor,
        action="hall.created",
        target=hall,
        changes={"key": key, "name": name, "division": division_code, "windows": len(window_rows)},
    )
    log.info("hall.created", hall_id=hall.pk, windows=len(window_rows))
    return hall


def _parse_windows(
    raw: Iterable[Mapping[str, Any]], errors: FieldErrors
) -> list[tuple[dict[str, Any], list[Department]]]:
    rows: list[tuple[dict[str, Any], list[Department]]] = []
    numbers: set[str] = set()
    for index, item in enumerate(raw):
        where = f"windows.{index}"
        number = check_text(
            str(item.get("number", "")), field=f"{where}.number", errors=errors, max_length=16
        )
        if number in numbers:
            errors.add(f"{where}.number", _("Window numbers must be unique within a hall."))
        numbers.add(number)
        kind = _choice(
            str(item.get("kind", "")), WindowKind, field_name=f"{where}.kind", errors=errors
        )
        keys = [str(key) for key in item.get("departments", [])]
        departments = list(Department.objects.filter(key__in=keys, active=True))
        if len(departments) != len(set(keys)):
            errors.add(f"{where}.departments", _("Unknown department key."))
        rows.append(
            (
                {
                    "number": number,
                    "name": check_text(
                        str(item.get("name", "")),
                        field=f"{where}.name",
                        errors=errors,
                        max_length=64,
                    ),
                    "kind": kind,
                    "off_hours": bool(item.get("off_hours", False)),
                },
                departments,
            )
        )
    return rows
