from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from tests import factories


def load_reference_data() -> None:
    """What `tongban init` loads on every node: divisions, departments and the catalogue."""
    from tongban.catalog.services import catalog_load_reference
    from tongban.core.audit import SYSTEM
    from tongban.regions.services import regions_load_reference

    regions_load_reference()
    catalog_load_reference(actor=SYSTEM)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Load the reference data once per test database; each test then runs in a transaction
    that is rolled back."""
    with django_db_blocker.unblock():
        load_reference_data()


@pytest.fixture(autouse=True)
def _reference_data_survives_flush(
    request: pytest.FixtureRequest, django_db_blocker: Any
) -> Iterator[None]:
    """A transactional test empties every table when it ends; put the reference data back for
    the tests after it. (Autouse fixtures are set up first, so this teardown runs last.)"""
    yield
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        with django_db_blocker.unblock():
            load_reference_data()


@pytest.fixture(autouse=True)
def _chinese_by_default() -> Iterator[None]:
    # Services produce lazy messages; evaluate them in the node's default language.
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def api() -> Client:
    return Client()


@pytest.fixture
def platform_admin(db: None) -> Any:
    return factories.StaffFactory(platform_admin=True)


@pytest.fixture
def clerk(db: None) -> Any:
    return factories.StaffFactory(window_clerk=True)


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client
