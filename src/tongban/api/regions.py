from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema

from tongban.regions import selectors
from tongban.regions.models import Department, Division, DivisionLevel, ServiceHall

router = Router(tags=["regions"])


class DivisionOut(Schema):
    code: str
    name: str
    level: str
    parent_code: str | None

    @staticmethod
    def resolve_parent_code(obj: Division) -> str | None:
        return obj.parent_id


class DepartmentOut(Schema):
    key: str
    name: str
    short_name: str
    division_code: str
    kind: str

    @staticmethod
    def resolve_division_code(obj: Department) -> str:
        return obj.division_id


class PeriodOut(Schema):
    weekday: int
    start: dt.time
    end: dt.time
    kind: str


class WindowOut(Schema):
    id: int
    number: str
    name: str
    kind: str
    off_hours: bool
    departments: list[str]

    @staticmethod
    def resolve_departments(obj: object) -> list[str]:
        return [department.key for department in obj.departments.all()]  # type: ignore[attr-defined]


class HallOut(Schema):
    key: str
    name: str
    division_code: str
    address: str
    phone: str
    opening_periods: list[PeriodOut]
    windows: list[WindowOut]

    @staticmethod
    def resolve_division_code(obj: ServiceHall) -> str:
        return obj.division_id

    @staticmethod
    def resolve_opening_periods(obj: ServiceHall) -> list[object]:
        return list(obj.opening_periods.all())

    @staticmethod
    def resolve_windows(obj: ServiceHall) -> list[object]:
        return [window for window in obj.windows.all() if window.active]


@router.get("/divisions", response=list[DivisionOut])
def list_divisions(
    request: HttpRequest, parent: str | None = None, level: DivisionLevel | None = None
) -> object:
    return selectors.division_list(parent=parent, level=level)


@router.get("/divisions/{code}", response=DivisionOut)
def get_division(request: HttpRequest, code: str) -> object:
    return selectors.division_get(code=code)


@router.get("/departments", response=list[DepartmentOut])
def list_departments(request: HttpRequest, division: str | None = None) -> object:
    return selectors.department_list(division=division)


@router.get("/halls", response=list[HallOut])
def list_halls(request: HttpRequest, division: str | None = None) -> object:
    return selectors.hall_list(division=division)
