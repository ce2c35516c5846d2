"""Reads for the catalogue."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.catalog.models import (
    CatalogVersion,
    Implementation,
    Mode,
    Scenario,
    ServiceItem,
    VersionStatus,
)
from tongban.core.errors import DomainError, NotFound, ValidationFailed


def version_current() -> CatalogVersion:
    """The published version in force today (the newest whose validity has begun)."""
    version = (
        CatalogVersion.objects.filter(
            status=VersionStatus.PUBLISHED, valid_from__lte=timezone.localdate()
        )
        .order_by("-number")
        .first()
    )
    if version is None:
        raise NotFound(_("No catalogue version is in force yet."), code="no_catalogue")
    return version


def version_get(*, number: int | None, include_drafts: bool = True) -> CatalogVersion:
    """A version by number, or the one in force when ``number`` is None. Callers serving the
    public pass ``include_drafts=False``: a draft is work in progress."""
    if number is None:
        return version_current()
    version = CatalogVersion.objects.filter(number=number).first()
    if version is not None and version.is_draft and not include_drafts:
        version = None
    if version is None:
        raise NotFound(_("No catalogue version has this number."), code="no_such_version")
    return version


def _with_guide(queryset: QuerySet[ServiceItem]) -> QuerySet[ServiceItem]:
    return queryset.select_related("lead_unit", "version").prefetch_related(
        "cooperating_units",
        "themes",
        Prefetch("scenarios", queryset=Scenario.objects.prefetch_related("materials")),
        Prefetch(
            "implementations",
            queryset=Implementation.objects.select_related("division", "department__division"),
        ),
    )


def items_for_documents(*, version: CatalogVersion) -> QuerySet[ServiceItem]:
    return _with_guide(ServiceItem.objects.filter(version=version)).order_by("code")


@dataclass(frozen=True)
class ItemFilters:
    mode: str | None = None
    batch: str | None = None
    theme: str | None = None
    department: str | None = None
    jurisdiction: str | None = None


def item_list(
    *, version: CatalogVersion, filters: ItemFilters, codes: list[str] | None = None
) -> QuerySet[ServiceItem]:
    """Items of a version matching the filters; ``codes`` (from search) narrows further."""
    queryset = ServiceItem.objects.filter(version=version)
    if filters.mode is not None:
        field_by_mode = {Mode.ONLINE: "online", Mode.PROXY: "proxy", Mode.JOINT: "joint"}
        if filters.mode not in field_by_mode:
            raise ValidationFailed(
                fields={
                    "mode": _("Choose from: %(choices)s.") % {"choices": ", ".join(Mode.values)}
                }
            )
        queryset = queryset.filter(**{field_by_mode[Mode(filters.mode)]: True})
    if filters.batch is not None:
        queryset = queryset.filter(batch=filters.batch)
    if filters.theme is not None:
        queryset = queryset.filter(themes__key=filters.theme)
    if filters.department is not None:
        queryset = queryset.filter(
            Q(lead_unit__key=filters.department)
            | Q(cooperating_units__key=filters.department)
            | Q(implementations__department__key=filters.department)
        )
    if filters.jurisdiction is not None:
        queryset = queryset.filter(implementations__division_id=filters.jurisdiction)
    if codes is not None:
        queryset = queryset.filter(code__in=codes)
    return (
        queryset.distinct().select_related("lead_unit").prefetch_related("themes").order_by("code")
    )


def item_get(*, version: CatalogVersion, code: str) -> ServiceItem:
    item = _with_guide(
        ServiceItem.objects.filter(version=version, code=code.strip().upper())
    ).first()
    if item is None:
        raise NotFound(_("No service item has this code in this catalogue version."))
    return item


# Search -------------------------------------------------------------------------------------

_indexes: dict[tuple[Any, ...], Any] = {}
_indexes_lock = threading.Lock()
_MAX_INDEXES = 2  # the version in force and a draft: each index holds a ~60 MB tokenizer


class SubstringSearch:
    """Search for versions other than the one in force and the draft: a plain name match.
    Building a full index (a second of CPU, ~60 MB) for any old version a caller names would
    let anyone exhaust a node by alternating version numbers."""

    def __init__(self, version: CatalogVersion) -> None:
        self.version = version

    def search(self, query: str, limit: int = 10) -> list[Any]:
        from django.utils.html import escape

        from tongban.catalog.search import MAX_QUERY_LENGTH, Hit

        text = " ".join(query.split())[:MAX_QUERY_LENGTH]
        if not text:
            return []
        items = ServiceItem.objects.filter(version=self.version, name__icontains=text).order_by(
            "code"
        )
        return [
            Hit(
                code=item.code,
                name=item.name,
                score=1.0,
                highlight=escape(item.name).replace(escape(text), f"<em>{escape(text)}</em>"),
            )
            for item in items[:limit]
        ]


def search_index(*, version: CatalogVersion) -> Any:
    """The search index of a version, built once per process for the version in force and the
    draft (rebuilt when the synonym table or the draft's items change; both fingerprinted with
    one small query); other versions get a plain name match (``SubstringSearch``)."""
    from tongban.catalog.models import SearchSynonym

    if not version.is_draft:
        try:
            current = version_current()
        except DomainError:
            current = None
        if current is None or current.pk != version.pk:
            return SubstringSearch(version)
    from tongban.catalog.search import SearchEntry, SearchIndex

    synonyms = {
        term: expansions.split()
        for term, expansions in SearchSynonym.objects.values_list("term", "expansions")
    }
    fingerprint = hashlib.sha256(
        json.dumps(synonyms, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    content: tuple[Any, ...] = ()
    if version.is_draft:
        # A draft changes by import (rows replaced) and in the admin (rows edited in place):
        # fingerprint what the index is built from. About a millisecond for a catalogue.
        rows = (
            ServiceItem.objects.filter(version=version)
            .order_by("code")
            .values_list("code", "name", "scenario_text", "themes__name")
        )
        content = (hashlib.sha256(json.dumps(list(rows), ensure_ascii=False).encode()).hexdigest(),)
    key = (version.pk, fingerprint, *content)
    with _indexes_lock:
        index = _indexes.get(key)
    if index is None:
        items = ServiceItem.objects.filter(version=version).prefetch_related("themes")
        entries = [
            SearchEntry(
                code=item.code,
                name=item.name,
                text=item.scenario_text,
                themes=tuple(theme.name for theme in item.themes.all()),
            )
            for item in items
        ]
        index = SearchIndex.build(entries, synonyms)
        with _indexes_lock:
            for old in [k for k in _indexes if k[0] == version.pk]:
                del _indexes[old]
            while len(_indexes) >= _MAX_INDEXES:
                del _indexes[next(iter(_indexes))]
            _indexes[key] = index
    return index


def theme_counts(*, version: CatalogVersion) -> list[tuple[Any, int]]:
    """Themes with the number of items of the version in each, in display order."""
    from django.db.models import Count

    from tongban.catalog.models import Theme

    counts = dict(
        ServiceItem.objects.filter(version=version)
        .values_list("themes")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        (theme, counts.get(theme.pk, 0)) for theme in Theme.objects.all() if counts.get(theme.pk)
    ]
