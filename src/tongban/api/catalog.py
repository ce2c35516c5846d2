from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema
from ninja.security import django_auth

from tongban.accounts import selectors as account_selectors
from tongban.api.common import MAX_LIMIT, check_paging, json_body
from tongban.catalog import push, selectors, services
from tongban.catalog.forms import form_errors
from tongban.catalog.models import CatalogVersion, Implementation, ServiceItem, Theme
from tongban.catalog.search import MAX_QUERY_LENGTH
from tongban.core.errors import NotFound, ValidationFailed

router = Router(tags=["catalog"])


def _version(request: HttpRequest, number: int | None) -> CatalogVersion:
    """A version for this caller: drafts only for those who manage the catalogue."""
    return selectors.version_get(
        number=number, include_drafts=services.is_catalog_manager(request.user)
    )


def _query(q: str | None) -> str | None:
    if q is None:
        return None
    if len(q) > MAX_QUERY_LENGTH:
        raise ValidationFailed(
            fields={"q": _("At most %(n)d characters.") % {"n": MAX_QUERY_LENGTH}}
        )
    return q


class UnitOut(Schema):
    key: str
    name: str
    short_name: str


class ThemeOut(Schema):
    key: str
    name: str


class ItemSummaryOut(Schema):
    code: str
    code_provisional: bool
    name: str
    batch: str
    modes: list[str]
    themes: list[ThemeOut]
    lead_unit: UnitOut | None

    @staticmethod
    def resolve_themes(obj: ServiceItem) -> list[Theme]:
        return list(obj.themes.all())


class ItemListOut(Schema):
    version: int
    count: int
    items: list[ItemSummaryOut]


class MaterialOut(Schema):
    key: str
    name: str
    required: bool
    original_required: bool
    license_type: str
    datashare_check: str
    accepted_types: list[str]
    template: str
    note: str


class ScenarioOut(Schema):
    key: str
    name: str
    description: str
    generic: bool
    form_schema: dict[str, object]
    materials: list[MaterialOut]

    @staticmethod
    def resolve_materials(obj: object) -> list[object]:
        return list(obj.materials.all())  # type: ignore[attr-defined]


class ImplementationOut(Schema):
    division_code: str
    division_name: str
    department: UnitOut | None
    code: str
    legal_limit_days: int | None
    promised_limit_days: int | None
    fee: str
    online: bool
    window: bool
    post: bool
    place: str
    hours: str

    @staticmethod
    def resolve_division_code(obj: Implementation) -> str:
        return obj.division_id

    @staticmethod
    def resolve_division_name(obj: Implementation) -> str:
        return obj.division.name


class ItemGuideOut(ItemSummaryOut):
    version: int
    item_type: str
    # The real-name level (1–3) a person needs to apply; lower levels are asked to step up.
    min_real_name_level: int
    legal_basis: str
    conditions: str
    batch_inferred: bool
    scenario_text: str
    pattern: str
    workflow: str
    source: str
    cooperating_units: list[UnitOut]
    scenarios: list[ScenarioOut]
    implementations: list[ImplementationOut]

    @staticmethod
    def resolve_version(obj: ServiceItem) -> int:
        return obj.version.number

    @staticmethod
    def resolve_cooperating_units(obj: ServiceItem) -> list[object]:
        return list(obj.cooperating_units.all())

    @staticmethod
    def resolve_scenarios(obj: ServiceItem) -> list[object]:
        return list(obj.scenarios.all())

    @staticmethod
    def resolve_implementations(obj: ServiceItem) -> list[object]:
        return list(obj.implementations.all())


class HitOut(Schema):
    code: str
    name: str
    score: float
    highlight: str


class SearchOut(Schema):
    version: int
    results: list[HitOut]


class VersionOut(Schema):
    number: int
    status: str
    valid_from: str | None
    note: str

    @staticmethod
    def resolve_valid_from(obj: CatalogVersion) -> str | None:
        return obj.valid_from.isoformat() if obj.valid_from else None


class DiffOut(Schema):
    old: int
    new: int
    added: list[str]
    removed: list[str]
    changed: dict[str, dict[str, list[object]]]


@router.get("/items", response=ItemListOut)
def list_items(
    request: HttpRequest,
    q: str | None = None,
    mode: str | None = None,
    batch: str | None = None,
    theme: str | None = None,
    department: str | None = None,
    jurisdiction: str | None = None,
    version: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, object]:
    """Items of a catalogue version (the one in force by default), filtered; with ``q`` they
    come in search order, best first."""
    check_paging(limit, offset)
    catalog_version = _version(request, version)
    filters = selectors.ItemFilters(
        mode=mode, batch=batch, theme=theme, department=department, jurisdiction=jurisdiction
    )
    query = _query(q)
    if query is not None and query.strip():
        hits = selectors.search_index(version=catalog_version).search(query, limit=MAX_LIMIT)
        order = {hit.code: rank for rank, hit in enumerate(hits)}
        matching = list(
            selectors.item_list(version=catalog_version, filters=filters, codes=list(order))
        )
        matching.sort(key=lambda item: order[item.code])
        return {
            "version": catalog_version.number,
            "count": len(matching),
            "items": matching[offset : offset + limit],
        }
    queryset = selectors.item_list(version=catalog_version, filters=filters)
    return {
        "version": catalog_version.number,
        "count": queryset.count(),
        "items": list(queryset[offset : offset + limit]),
    }


@router.get("/items/{code}", response=ItemGuideOut)
def get_item(request: HttpRequest, code: str, version: int | None = None) -> ServiceItem:
    """The full guide (办事指南) of one item."""
    return selectors.item_get(version=_version(request, version), code=code)


@router.get("/search", response=SearchOut)
def search(
    request: HttpRequest, q: str = "", limit: int = 10, version: int | None = None
) -> dict[str, object]:
    check_paging(limit)
    catalog_version = _version(request, version)
    hits = selectors.search_index(version=catalog_version).search(_query(q) or "", limit=limit)
    return {"version": catalog_version.number, "results": hits}


@router.get("/themes", response=list[ThemeOut])
def list_themes(request: HttpRequest) -> object:
    return Theme.objects.all()


@router.get("/versions", response=list[VersionOut])
def list_versions(request: HttpRequest) -> object:
    versions = CatalogVersion.objects.all()
    if not services.is_catalog_manager(request.user):
        versions = versions.exclude(status="draft")
    return versions


@router.get("/versions/{old}/diff/{new}", response=DiffOut)
def diff_versions(request: HttpRequest, old: int, new: int) -> dict[str, object]:
    changes = services.catalog_diff(old=_version(request, old), new=_version(request, new))
    return {"old": old, "new": new, **changes}


class RecommendationOut(Schema):
    code: str
    name: str
    reason: str
    trigger: str


class RecommendationsOut(Schema):
    version: int
    recommendations: list[RecommendationOut]


@router.get("/recommendations", response=RecommendationsOut, auth=django_auth)
def recommendations(request: HttpRequest, enterprise: str | None = None) -> dict[str, object]:
    """Services suggested for the logged-in person (精准推送), from their declared life events
    and what their record shows; with ``enterprise`` (a USCC they act for) also for it."""
    person, acting_for = account_selectors.person_and_enterprise(
        user=request.user, enterprise_uscc=enterprise
    )
    version = selectors.version_current()
    found = push.recommendations_for(person=person, version=version, enterprise=acting_for)
    return {
        "version": version.number,
        "recommendations": [
            {"code": r.item.code, "name": r.item.name, "reason": r.reason, "trigger": r.trigger}
            for r in found
        ],
    }


class FormCheckOut(Schema):
    valid: bool


@router.post(
    "/items/{code}/scenarios/{key}/check",
    response=FormCheckOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The form data; the scenario's form_schema says what it must hold.",
        }
    },
)
def check_form(request: HttpRequest, code: str, key: str) -> dict[str, bool]:
    """Check form data against a scenario's form before applying: ``{"valid": true}``, or a 400
    naming every field with a problem."""
    item = selectors.item_get(version=selectors.version_current(), code=code)
    scenario = next((s for s in item.scenarios.all() if s.key == key), None)
    if scenario is None:
        raise NotFound(_("This item has no such situation."))
    # The body is free-form by design (each scenario has its own schema), so it is read here
    # rather than declared as a ninja schema.
    data = json_body(request, default=None)
    errors = form_errors(scenario.form_schema, data)
    if errors:
        raise ValidationFailed(fields=errors)
    return {"valid": True}
