"""The applicant books a lunchtime slot step by step, sees it under "my appointments" with its
code, place and state, and cancels it."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine

from tests.conftest import login
from tests.delivery.appointments_support import NOW, at, book
from tests.factories import PersonFactory, StaffFactory
from tongban.delivery.models import Appointment

pytestmark = pytest.mark.django_db
BOOK = "/appointments/book/"
MINE = "/me/appointments/"


@pytest.fixture
def person(db: None) -> Any:
    return PersonFactory(with_login=True)


def test_booking_step_by_step(client, window, person) -> None:
    login(client, person.user)
    with time_machine.travel(NOW, tick=False):
        page = client.get(BOOK).content.decode()
        assert "测试政务服务中心 appt-hall" in page
        page = client.get(BOOK, {"hall": "appt-hall"}).content.decode()
        assert "A01 跨省通办窗口" in page
        page = client.get(BOOK, {"hall": "appt-hall", "window": window.pk}).content.decode()
        assert "day=2026-09-23" in page
        assert "day=2026-10-01" not in page
        page = client.get(
            BOOK, {"hall": "appt-hall", "window": window.pk, "day": "2026-09-23"}
        ).content.decode()
        assert page.count('type="radio"') == 12
        assert "12:00–12:30" in page
        assert "17:30–18:00" in page
        assert "午间（错时）" in page
        assert "晚间（延时）" in page
        response = client.post(
            f"{BOOK}?hall=appt-hall&window={window.pk}&day=2026-09-23",
            {"window": window.pk, "starts_at": at(23, 12).isoformat(), "purpose": "identity"},
        )
        assert response.status_code == 302
        assert response["Location"] == MINE
        appointment = Appointment.objects.get()
        page = client.get(MINE).content.decode()
    assert appointment.code in page
    assert "A01 跨省通办窗口" in page
    assert "已预约" in page
    assert "2026-09-23" in page
    assert "12:00–12:30" in page
    assert f"/me/appointments/{appointment.code}/cancel/" in page
    assert "预约成功" in page  # the recorded confirmation, under messages


def test_a_refused_booking_says_why_and_books_nothing(client, window, person) -> None:
    login(client, person.user)
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            f"{BOOK}?hall=appt-hall&window={window.pk}&day=2026-09-22",
            {"window": window.pk, "starts_at": at(22, 9).isoformat(), "purpose": "assisted"},
        )
    assert response.status_code == 400
    assert "已开始" in response.content.decode()
    assert not Appointment.objects.exists()


def test_cancel_from_my_appointments(client, window, person) -> None:
    with time_machine.travel(NOW, tick=False):
        appointment = book(person, window, at(23, 9))
        login(client, person.user)
        response = client.post(f"/me/appointments/{appointment.code}/cancel/", follow=True)
    assert "已取消" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.state == "cancelled"


def test_nobody_cancels_someone_elses_page(client, window, person) -> None:
    with time_machine.travel(NOW, tick=False):
        appointment = book(person, window, at(23, 9))
        login(client, PersonFactory(with_login=True).user)
        response = client.post(f"/me/appointments/{appointment.code}/cancel/")
    assert response.status_code == 404
    appointment.refresh_from_db()
    assert appointment.state == "booked"


def test_the_pages_need_a_login(client, db) -> None:
    assert client.get(MINE).status_code == 302
    assert client.get(BOOK).status_code == 302


def test_staff_without_a_desk_role_cannot_book(client, window) -> None:
    login(client, StaffFactory(reviewer=True).user)
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            BOOK, {"window": window.pk, "starts_at": at(23, 9).isoformat(), "purpose": "assisted"}
        )
    assert response.status_code == 400
    assert 'class="msg msg-error"' in response.content.decode()
    assert not Appointment.objects.exists()


def test_the_guide_leads_to_booking_with_its_item(client, window, person) -> None:
    from tongban.catalog.models import ServiceItem
    from tongban.catalog.selectors import version_current

    item = ServiceItem.objects.filter(
        version=version_current(), implementations__department__key="cq-hrss"
    ).first()
    guide = client.get(f"/items/{item.code}/").content.decode()
    assert f"/appointments/book/?item={item.code}" in guide
    login(client, person.user)
    page = client.get(BOOK, {"item": item.code, "hall": "appt-hall"}).content.decode()
    assert f"window={window.pk}&amp;item={item.code}" in page
    page = client.get(
        BOOK, {"item": item.code, "hall": "appt-hall", "window": window.pk, "day": "2026-09-23"}
    ).content.decode()
    assert f'name="item_code" value="{item.code}"' in page
