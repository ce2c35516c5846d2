"""The clerk's day: bookings in time order with off-hours slots marked; check-in, attended,
no-show and cancel; booking at the desk; closing a window on a date."""

from __future__ import annotations

from typing import Any

import pytest

from tests.delivery.appointments_support import at, book
from tests.factories import PersonFactory, StaffFactory
from tests.workbench.conftest import desk
from tongban.delivery.models import Appointment, AppointmentNotice

pytestmark = pytest.mark.django_db
PAGE = "/workbench/appointments/"


@pytest.fixture
def clerk(db: None) -> Any:
    return StaffFactory(window_clerk=True, department_key="cq-big-data", jurisdiction_code="500103")


def test_the_day_in_time_order_with_off_hours_marked(window, clerk) -> None:
    evening = book(PersonFactory(with_login=True), window, at(22, 17, 30))
    lunch = book(PersonFactory(with_login=True), window, at(22, 12))
    page = desk(clerk).get(PAGE, {"hall": "appt-hall", "window": window.pk}).content.decode()
    assert page.index(lunch.code) < page.index(evening.code)
    assert "午间（错时）" in page
    assert "晚间（延时）" in page
    assert "off-hours-row" in page
    assert "为窗口前的群众预约" in page  # the desk booking form
    assert "关闭本窗口" not in page  # clerks do not close windows


def test_check_in_attended_and_no_show(window, clerk, frozen) -> None:
    first = book(PersonFactory(with_login=True), window, at(22, 12))
    second = book(PersonFactory(with_login=True), window, at(22, 12, 30))
    browser = desk(clerk)
    browser.post(f"{PAGE}{first.code}/check-in/")
    frozen.move_to(at(22, 12, 45))
    browser = desk(clerk)  # hours idle ended the staff session; signed in again
    browser.post(f"{PAGE}{first.code}/attended/")
    response = browser.post(f"{PAGE}{second.code}/no-show/", follow=True)
    assert response.status_code == 200
    states = dict(Appointment.objects.values_list("code", "state"))
    assert (states[first.code], states[second.code]) == ("attended", "no_show")
    refused = browser.post(f"{PAGE}{second.code}/check-in/", follow=True).content.decode()
    assert "不能变为" in refused


def test_cancel_with_a_reason_and_book_at_the_desk(
    window, clerk, django_capture_on_commit_callbacks
) -> None:
    appointment = book(PersonFactory(with_login=True), window, at(23, 9))
    browser = desk(clerk)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"{PAGE}{appointment.code}/cancel/", {"reason": "窗口临时调整"})
    assert "窗口临时调整" in AppointmentNotice.objects.get(kind="cancelled").text
    walk_in = PersonFactory()
    response = browser.post(
        f"{PAGE}book/",
        {
            "hall": "appt-hall",
            "window": window.pk,
            "day": "2026-09-23",
            "id_number": walk_in.id_number,
            "starts_at": at(23, 12).isoformat(),
            "purpose": "assisted",
        },
        follow=True,
    )
    made = Appointment.objects.get(person=walk_in)
    assert made.assisted
    assert made.code in response.content.decode()


def test_a_manager_closes_the_window(window, django_capture_on_commit_callbacks) -> None:
    booked = book(PersonFactory(with_login=True), window, at(24, 9))
    admin = StaffFactory(department_admin=True, department_key="cq-hrss")
    with django_capture_on_commit_callbacks(execute=True):
        response = desk(admin).post(
            f"{PAGE}close/",
            {"hall": "appt-hall", "window": window.pk, "close_day": "2026-09-24", "reason": "停电"},
            follow=True,
        )
    assert "已取消 1 个预约" in response.content.decode()
    booked.refresh_from_db()
    assert booked.state == "cancelled"


def test_staff_outside_the_jurisdiction_see_nothing_of_it(window) -> None:
    book(PersonFactory(with_login=True), window, at(23, 9))
    chengdu = StaffFactory(
        window_clerk=True, department_key="cd-government-services", jurisdiction_code="510100"
    )
    page = desk(chengdu).get(PAGE, {"hall": "appt-hall"}).content.decode()
    assert "appt-hall" not in page
    code = Appointment.objects.get().code
    assert desk(chengdu).post(f"{PAGE}{code}/check-in/").status_code == 404
    assert desk(StaffFactory(reviewer=True)).get(PAGE, {"hall": "appt-hall"}).status_code == 403


def test_a_platform_admin_sets_hours_and_sees_no_one_who_booked(window) -> None:
    booked = book(PersonFactory(with_login=True, name="王预约"), window, at(22, 12))
    admin = StaffFactory(platform_admin=True)
    response = desk(admin).get(PAGE, {"hall": "appt-hall", "window": window.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert booked.code not in page
    assert booked.person.name_masked not in page
    assert "平台管理员" in page
    assert "关闭本窗口" in page  # closures are configuration


def test_the_menu_offers_appointments_only_to_who_can_open_them(clerk) -> None:
    assert f'href="{PAGE}"' in desk(clerk).get("/workbench/").content.decode()
    supervisor = desk(StaffFactory(supervisor=True))
    assert f'href="{PAGE}"' not in supervisor.get("/workbench/").content.decode()
    assert supervisor.get(PAGE).status_code == 403
