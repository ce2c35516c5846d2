from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from tests import factories

# Appointment fixtures (``frozen``, ``window``) for the delivery, api, portal, workbench and admin
# tests alike.
pytest_plugins = ["tests.delivery.appointments_support"]


def load_reference_data() -> None:
    """What `tongban init` loads on every node: divisions, departments and the catalogue."""
    from tongban.catalog.services import catalog_load_reference
    from tongban.core.audit import SYSTEM
    from tongban.licenses.services import license_types_load_reference, seals_ensure
    from tongban.regions.services import regions_load_reference

    regions_load_reference()
    catalog_load_reference(actor=SYSTEM)
    license_types_load_reference()
    seals_ensure(everywhere=True)  # the deciding departments of every province sign licences
    # chinese-calendar 1.11 knows the years up to 2026; a node's administrators enter later
    # years' holidays (admin: 工作日历). A test that counts working days from today reaches
    # into 2027 from December on: one entry (元旦) makes the year known, weekends otherwise.
    import datetime as dt

    from tongban.cases.models import CalendarEntry

    CalendarEntry.objects.get_or_create(
        date=dt.date(2027, 1, 1), defaults={"is_workday": False, "note": "元旦"}
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Load the reference data once per test database; each test then runs in a transaction
    that is rolled back."""
    with django_db_blocker.unblock():
        load_reference_data()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A transactional test (``transactional_db``, ``live_server``, or marked
    ``django_db(transaction=True)``) empties every table when
    its fixtures are torn down; put the reference data back once all of them are, for the
    tests after it. (A fixture's teardown could run before pytest-django's flush.)"""
    yield
    names = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and bool(marker.kwargs.get("transaction"))
    if nextitem is not None and (
        transactional or "transactional_db" in names or "live_server" in names
    ):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
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
    """Log ``user`` in; staff (anyone who needs a second factor) as if they had also given
    their authenticator code, the way ``django_otp.login`` records it in the session."""
    client.force_login(user)
    from tongban.accounts.selectors import otp_required_for

    if otp_required_for(user):
        confirm_second_factor(client, user)
    return client


def login_unconfirmed(client: Client, user: Any) -> Client:
    """A staff session that never gave its code (from before two-factor sign-in, say)."""
    client.force_login(user)
    return client


def confirm_second_factor(client: Client, user: Any) -> None:
    from django_otp import DEVICE_ID_SESSION_KEY

    device = otp_device(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def otp_device(user: Any) -> Any:
    """The user's confirmed authenticator, set up with a known secret if they have none."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tongban.accounts.services import staff_otp_install
    from tongban.core.audit import SYSTEM

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or staff_otp_install(actor=SYSTEM, user=user, key_hex=TEST_OTP_KEY)


TEST_OTP_KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test secret


def otp_code(device: Any, *, at: float | None = None, steps_ahead: int = 0) -> str:
    """The code an authenticator app would show for ``device`` (now, or at ``at``)."""
    import time

    from django_otp.oath import TOTP

    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time = (time.time() if at is None else at) + steps_ahead * device.step
    return f"{generator.token():06d}"
