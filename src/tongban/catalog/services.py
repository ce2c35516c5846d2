"""Writes for the catalogue: the draft, imports, publishing, reference loading, themes,
synonyms and push rules. Only the draft version ever changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import StaffRole
from tongban.accounts.services import require_staff
from tongban.catalog import reference
from tongban.catalog.documents import (
    IMPLEMENTATION_FIELDS,
    ITEM_FIELDS,
    MATERIAL_FIELDS,
    SCENARIO_FIELDS,
    diff_documents,
    item_document,
)
from tongban.catalog.errors import ImportRejected
from tongban.catalog.models import (
    CatalogVersion,
    Implementation,
    MaterialSpec,
    Mode,
    PushRule,
    Scenario,
    SearchSynonym,
    ServiceItem,
    Theme,
    VersionStatus,
)
from tongban.catalog.selectors import items_for_documents
from tongban.catalog.validation import Known, check_item_document
from tongban.core.audit import audit_record
from tongban.core.errors import Conflict, DomainError, ValidationFailed
from tongban.core.logging import get_logger
from tongban.regions.models import Department, Division, DivisionLevel

log = get_logger(__name__)
CATALOG_MANAGERS = (StaffRole.PLATFORM_ADMIN,)
# GB/T 2260 level → the level digit of a 31-character implementation code.
_LEVEL_DIGITS = {
    DivisionLevel.NATIONAL: "1",
    DivisionLevel.PROVINCE: "2",
    DivisionLevel.PREFECTURE: "3",
    DivisionLevel.COUNTY: "4",
}


@dataclass
class ImportReport:
    version: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def is_catalog_manager(actor: Any) -> bool:
    """Whether the actor manages the catalogue (and so may see drafts)."""
    try:
        require_staff(actor, CATALOG_MANAGERS)
    except DomainError:
        return False
    return True


# The draft ----------------------------------------------------------------------------------


def catalog_draft(*, actor: Any) -> CatalogVersion:
    """The one draft version, opened as a copy of the latest published version if needed."""
    require_staff(actor, CATALOG_MANAGERS)
    draft = CatalogVersion.objects.filter(status=VersionStatus.DRAFT).first()
    if draft is not None:
        return draft
    with transaction.atomic():
        latest = (
            CatalogVersion.objects.filter(status=VersionStatus.PUBLISHED)
            .order_by("-number")
            .first()
        )
        number = (CatalogVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                draft = CatalogVersion.objects.create(number=number, status=VersionStatus.DRAFT)
        except IntegrityError:
            # Someone else opened the draft at the same moment; use theirs.
            return CatalogVersion.objects.get(status=VersionStatus.DRAFT)
        if latest is not None:
            refs = _References.load()
            for item in items_for_documents(version=latest):
                _write_item(draft, item_document(item), refs)
        audit_record(
            actor=actor,
            action="catalog.draft_opened",
            target=draft,
            changes={"from_version": latest.number if latest else None},
        )
    log.info("catalog.draft_opened", version=draft.number)
    return draft


class _References:
    """Departments, divisions and themes by key, loaded once per write."""

    def __init__(
        self,
        departments: dict[str, Department],
        divisions: dict[str, Division],
        themes: dict[str, Theme],
    ):
        self.departments = departments
        self.divisions = divisions
        self.themes = themes

    @classmethod
    def load(cls) -> _References:
        return cls(
            departments={d.key: d for d in Department.objects.select_related("division")},
            divisions={d.code: d for d in Division.objects.all()},
            themes={t.key: t for t in Theme.objects.all()},
        )

    def known(self) -> Known:
        return Known(departments=self.departments, divisions=self.divisions, themes=self.themes)


def implementation_code(*, department: Department | None, item_code: str) -> str:
    """USCC (18) + level digit + basic code (12), or "" while the department's USCC is unknown."""
    if department is None or not department.uscc:
        return ""
    return department.uscc + _LEVEL_DIGITS[DivisionLevel(department.division.level)] + item_code


def _write_item(
    version: CatalogVersion, document: Mapping[str, Any], refs: _References
) -> ServiceItem:
    """Replace the item with this code in ``version`` by the (already checked) document."""
    ServiceItem.objects.filter(version=version, code=document["code"]).delete()
    modes = set(document.get("modes", []))
    item = ServiceItem.objects.create(
        version=version,
        **{name: _value(document, name) for name in ITEM_FIELDS},
        online=Mode.ONLINE in modes,
        proxy=Mode.PROXY in modes,
        joint=Mode.JOINT in modes,
        lead_unit=refs.departments.get(document.get("lead_unit") or ""),
    )
    item.cooperating_units.set(
        [refs.departments[key] for key in document.get("cooperating_units", [])]
    )
    item.themes.set([refs.themes[key] for key in document.get("themes", [])])
    for scenario_document in document["scenarios"]:
        scenario = Scenario.objects.create(
            item=item,
            **{name: _value(scenario_document, name) for name in SCENARIO_FIELDS},
        )
        MaterialSpec.objects.bulk_create(
            MaterialSpec(scenario=scenario, **{name: _value(m, name) for name in MATERIAL_FIELDS})
            for m in scenario_document.get("materials", [])
        )
    implementations = []
    for implementation_document in document.get("implementations", []):
        department = refs.departments.get(implementation_document.get("department") or "")
        values = {name: _value(implementation_document, name) for name in IMPLEMENTATION_FIELDS}
        values["code"] = values["code"] or implementation_code(
            department=department, item_code=item.code
        )
        implementations.append(
            Implementation(
                item=item,
                division=refs.divisions[implementation_document["division"]],
                department=department,
                **values,
            )
        )
    Implementation.objects.bulk_create(implementations)
    return item


_DEFAULTS: dict[str, Any] = {
    "code_provisional": False,
    "batch_inferred": False,
    "generic": False,
    "required": True,
    "original_required": False,
    "online": False,
    "window": False,
    "post": False,
    "workflow": "standard",
    # Documents written before items stated a level: the platform's default (L2).
    "min_real_name_level": 2,
    "order": 0,
    "form_schema": {},
    "accepted_types": [],
}


def _value(document: Mapping[str, Any], name: str) -> Any:
    value = document.get(name)
    if value is None:
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        if name in {"seq", "legal_limit_days", "promised_limit_days"}:
            return None
        return ""
    return value


# Import -------------------------------------------------------------------------------------


def catalog_import(
    *,
    actor: Any,
    documents: Sequence[Any],
    rows: Sequence[int] | None = None,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write item documents into the draft, all or nothing.

    Every problem of every document is collected first; if there is any, ``ImportRejected``
    carries them all (row, code, field, reason) and nothing is written. With ``replace``, draft
    items missing from the documents are removed.
    """
    require_staff(actor, CATALOG_MANAGERS)
    refs = _References.load()
    known = refs.known()
    rows = list(rows) if rows is not None else list(range(1, len(documents) + 1))
    problems: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row, document in zip(rows, documents, strict=True):
        code = document.get("code") if isinstance(document, Mapping) else None
        if not isinstance(code, str):
            code = None
        try:
            found = check_item_document(document, known)
        except (TypeError, ValueError, RecursionError):
            # A value of a shape no rule foresaw: report it, never crash the import.
            found = [("", _("This row holds values of an unexpected kind."))]
        for field_name, message in found:
            problems.append({"row": row, "code": code, "field": field_name, "reason": str(message)})
        if isinstance(code, str):
            if code in seen:
                problems.append(
                    {
                        "row": row,
                        "code": code,
                        "field": "code",
                        "reason": str(
                            _("This code also appears in row %(row)d.") % {"row": seen[code]}
                        ),
                    }
                )
            seen.setdefault(code, row)
    if not documents:
        problems.append(
            {"row": 0, "code": None, "field": "", "reason": str(_("The file holds no items."))}
        )
    if problems:
        raise ImportRejected(problems)

    with transaction.atomic():
        draft = catalog_draft(actor=actor)
        draft = CatalogVersion.objects.select_for_update().get(pk=draft.pk)
        if not draft.is_draft:
            raise Conflict(_("The draft was published meanwhile; import again."))
        existing = set(ServiceItem.objects.filter(version=draft).values_list("code", flat=True))
        report = ImportReport(version=draft.number)
        for document in documents:
            _write_item(draft, document, refs)
            (report.updated if document["code"] in existing else report.created).append(
                document["code"]
            )
            if progress is not None:
                progress(1)
        if replace:
            missing = existing - set(seen)
            ServiceItem.objects.filter(version=draft, code__in=missing).delete()
            report.removed = sorted(missing)
        audit_record(
            actor=actor,
            action="catalog.imported",
            target=draft,
            changes={
                "created": len(report.created),
                "updated": len(report.updated),
                "removed": len(report.removed),
            },
        )
    log.info(
        "catalog.imported",
        version=report.version,
        created=len(report.created),
        updated=len(report.updated),
        removed=len(report.removed),
    )
    return report


# Publishing ---------------------------------------------------------------------------------


def catalog_publish(*, actor: Any, valid_from: dt.date, note: str = "") -> CatalogVersion:
    """Freeze the draft as an immutable version valid from ``valid_from``."""
    require_staff(actor, CATALOG_MANAGERS)
    with transaction.atomic():
        draft = (
            CatalogVersion.objects.select_for_update().filter(status=VersionStatus.DRAFT).first()
        )
        if draft is None:
            raise Conflict(_("There is no draft to publish."), code="no_draft")
        if not draft.items.exists():
            raise ValidationFailed(_("An empty catalogue cannot be published."))
        latest = (
            CatalogVersion.objects.filter(status=VersionStatus.PUBLISHED)
            .order_by("-number")
            .first()
        )
        if latest is not None and latest.valid_from and valid_from < latest.valid_from:
            raise ValidationFailed(
                fields={"valid_from": _("A new version cannot be valid before the previous one.")}
            )
        draft.status = VersionStatus.PUBLISHED
        draft.valid_from = valid_from
        draft.note = note
        draft.published_at = timezone.now()
        draft.published_by = actor if getattr(actor, "pk", None) else None
        draft.save(update_fields=["status", "valid_from", "note", "published_at", "published_by"])
        audit_record(
            actor=actor,
            action="catalog.published",
            target=draft,
            changes={"valid_from": valid_from.isoformat(), "items": draft.items.count()},
        )
    log.info("catalog.published", version=draft.number)
    return draft


# Reference data -----------------------------------------------------------------------------


def catalog_load_reference(*, actor: Any) -> str:
    """On a node with no published catalogue: load themes, search synonyms, push rules and
    the national list, and publish it as version 1. Afterwards the catalogue belongs to its
    administrators, so running ``tongban init`` again changes nothing."""
    themes_load(actor=actor)
    search_synonyms_load(actor=actor)
    push_rules_load(actor=actor)
    if CatalogVersion.objects.filter(status=VersionStatus.PUBLISHED).exists():
        return "catalogue already published; left as it is"
    by_short_name = dict(Department.objects.values_list("short_name", "key"))
    documents = reference.reference_documents(by_short_name)
    with transaction.atomic():
        report = catalog_import(actor=actor, documents=documents)
        version = catalog_publish(
            actor=actor,
            valid_from=timezone.localdate(),
            note="渝府办发〔2020〕124号 附件（据 shared/data/catalog.csv 重建）",
        )
    return f"catalogue v{version.number} published with {len(report.created)} items"


def themes_load(*, actor: Any) -> int:
    created = 0
    for order, (key, name, _words) in enumerate(reference.THEMES):
        _theme, was_created = Theme.objects.get_or_create(
            key=key, defaults={"name": name, "order": order}
        )
        created += was_created
    return created


def search_synonyms_load(*, actor: Any) -> int:
    """The shipped colloquial-term table, added where a term is not there yet (admins edit it)."""
    from tongban.catalog.search_data import SYNONYMS

    existing = set(SearchSynonym.objects.values_list("term", flat=True))
    new = [
        SearchSynonym(term=term, expansions=" ".join(words))
        for term, words in SYNONYMS.items()
        if term not in existing
    ]
    SearchSynonym.objects.bulk_create(new)
    return len(new)


def push_rules_load(*, actor: Any) -> int:
    from tongban.catalog.push_data import PUSH_RULES

    existing = set(PushRule.objects.values_list("key", flat=True))
    by_short_name = dict(Department.objects.values_list("short_name", "key"))
    code_by_name = {d["name"]: d["code"] for d in reference.reference_documents(by_short_name)}
    new = [
        PushRule(
            key=key,
            trigger=trigger,
            item_codes=[code_by_name[name] for name in names],
            reason=reason,
            order=order,
        )
        for order, (key, trigger, names, reason) in enumerate(PUSH_RULES)
        if key not in existing
    ]
    PushRule.objects.bulk_create(new)
    return len(new)


def catalog_documents(*, version: CatalogVersion) -> list[dict[str, Any]]:
    return [item_document(item) for item in items_for_documents(version=version)]


def catalog_diff(*, old: CatalogVersion, new: CatalogVersion) -> dict[str, Any]:
    """Items added and removed, and per item the fields that changed, from ``old`` to ``new``."""
    return diff_documents(
        {d["code"]: d for d in catalog_documents(version=old)},
        {d["code"]: d for d in catalog_documents(version=new)},
    )
