from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from tongban.catalog.models import CatalogVersion, ServiceItem
from tongban.catalog.selectors import version_current
from tongban.catalog.services import catalog_documents, catalog_import, catalog_publish
from tongban.core.audit import SYSTEM

Documents = list[dict[str, Any]]


@pytest.fixture
def current(db: None) -> CatalogVersion:
    """The catalogue version in force: v1, the reference list, unless a test publishes."""
    return version_current()


@pytest.fixture
def item_named(current: CatalogVersion) -> Callable[[str], ServiceItem]:
    def find(name: str) -> ServiceItem:
        return ServiceItem.objects.get(version=current, name=name)

    return find


@pytest.fixture
def publish(current: CatalogVersion) -> Callable[..., CatalogVersion]:
    """Publish a new version made from the current one's documents as ``change`` returns them
    (``replace`` drops the items left out), valid from today unless told otherwise."""

    def run(
        change: Callable[[Documents], Documents],
        *,
        replace: bool = False,
        valid_from: dt.date | None = None,
    ) -> CatalogVersion:
        documents = change(catalog_documents(version=current))
        catalog_import(actor=SYSTEM, documents=documents, replace=replace)
        return catalog_publish(actor=SYSTEM, valid_from=valid_from or timezone.localdate())

    return run
