"""The case page's 邮政寄递 panel: the parcels with their steps, only the next steps a parcel may
take, and forms whose refusals come back as a message on the page (never a 500)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.conftest import login
from tests.delivery.conftest import receive
from tests.factories import PersonFactory, StaffFactory
from tests.portal.pages import html
from tongban.cases.models import Case
from tongban.delivery import services
from tongban.delivery.models import Shipment, ShipmentEvent

pytestmark = pytest.mark.django_db
TRACKING = "EA123456789CN"
STEP_OPTIONS = re.compile(r'<select id="step-(\d+)" name="state">(.*?)</select>', re.S)
OPTION = re.compile(r'<option value="([a-z_]+)">')
MESSAGES = re.compile(r'<li class="msg msg-(\w+)">(.*?)</li>', re.S)


def desk(staff: Any) -> Client:
    client = Client()
    login(client, getattr(staff, "user", staff))
    return client


def page_of(case: Case) -> str:
    return f"/workbench/cases/{case.number}/"


def next_steps(response: Any) -> dict[int, list[str]]:
    """Each parcel's step form: shipment id → the states offered."""
    assert response.status_code == 200
    return {
        int(pk): OPTION.findall(options) for pk, options in STEP_OPTIONS.findall(html(response))
    }


def messages_of(response: Any) -> list[tuple[str, str]]:
    return MESSAGES.findall(html(response))


def register(client: Client, case: Case, **changes: str) -> Any:
    data = {
        "purpose": "originals",
        "carrier": "ems",
        "tracking_number": TRACKING,
        "to_division": "",
        **changes,
    }
    return client.post(f"{page_of(case)}shipments/", data, follow=True)


def record(client: Client, case: Case, shipment: Shipment, **data: str) -> Any:
    return client.post(f"{page_of(case)}shipments/{shipment.pk}/steps/", data, follow=True)


@pytest.fixture
def parcel(window_clerk, forwarded) -> Shipment:
    return services.shipment_create(
        actor=window_clerk.user,
        number=forwarded.number,
        purpose="originals",
        carrier="ems",
        tracking_number=TRACKING,
    )


def test_the_panel_lists_the_parcel_with_only_its_next_steps(
    window_clerk, reviewer, forwarded, parcel
) -> None:
    client = desk(window_clerk)
    response = client.get(page_of(forwarded))
    page = html(response)
    assert "邮政寄递" in page
    assert f'<div class="meta">中国邮政 EMS <code>{TRACKING}</code>' in page
    assert "登记寄递" in page  # the registration form
    assert next_steps(response) == {parcel.pk: ["picked_up", "lost"]}

    services.shipment_record(actor=window_clerk.user, shipment_id=parcel.pk, state="picked_up")
    assert next_steps(client.get(page_of(forwarded))) == {
        parcel.pk: ["in_transit", "delivered", "returned", "lost"]
    }
    services.shipment_record(actor=reviewer.user, shipment_id=parcel.pk, state="in_transit")
    assert next_steps(desk(reviewer).get(page_of(forwarded))) == {
        parcel.pk: ["in_transit", "delivered", "returned", "lost"]
    }
    services.shipment_record(
        actor=reviewer.user, shipment_id=parcel.pk, state="delivered", note="收发室签收"
    )
    response = client.get(page_of(forwarded))
    assert next_steps(response) == {}  # delivered is final: no step form
    assert "收发室签收" in html(response)
    assert "已送达" in html(response)


def test_a_case_without_parcels_says_so(window_clerk, forwarded) -> None:
    response = desk(window_clerk).get(page_of(forwarded))
    assert "该办件暂无寄递。" in html(response)
    assert next_steps(response) == {}


def test_the_clerk_registers_the_originals_and_records_the_steps(
    window_clerk, reviewer, forwarded
) -> None:
    client = desk(window_clerk)
    response = register(client, forwarded, tracking_number=f" {TRACKING} ")
    assert response.redirect_chain == [(page_of(forwarded), 302)]
    assert messages_of(response) == [("success", "寄递已登记。")]
    parcel = Shipment.objects.get(case=forwarded)
    assert (parcel.purpose, parcel.tracking_number, parcel.state) == (
        "originals",
        TRACKING,
        "created",
    )
    assert next_steps(response) == {parcel.pk: ["picked_up", "lost"]}

    response = record(client, forwarded, parcel, state="picked_up", note="营业厅揽收")
    assert messages_of(response) == [("success", "寄递进度已记录。")]
    assert "营业厅揽收" in html(response)
    response = record(desk(reviewer), forwarded, parcel, state="delivered")
    assert messages_of(response) == [("success", "寄递进度已记录。")]
    forwarded.refresh_from_db()
    assert forwarded.originals_received_on is not None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"tracking_number": "12"}, "6 至 40 位字母、数字或连字符。"),
        ({"tracking_number": "EA 1234567"}, "6 至 40 位字母、数字或连字符。"),
        ({"tracking_number": ""}, "6 至 40 位字母、数字或连字符。"),
        ({"carrier": "ups"}, "ems, sf, jd, other"),
        ({"purpose": "gift"}, "请选择原件或办理结果。"),
        ({"purpose": "result"}, ""),  # the window does not post the result
    ],
)
def test_bad_registrations_show_a_message_and_store_nothing(
    window_clerk, forwarded, changes, says
) -> None:
    response = register(desk(window_clerk), forwarded, **changes)
    assert response.status_code == 200
    shown = messages_of(response)
    assert [level for level, _text in shown] == ["error"]
    assert says in shown[0][1]
    assert not Shipment.objects.exists()


def test_a_registration_before_forwarding_or_twice_shows_why(
    window_clerk, citizen, item, originals, parcel, forwarded
) -> None:
    client = desk(window_clerk)
    at_the_window = receive(window_clerk, citizen, item)
    response = register(client, at_the_window, tracking_number="EA000000001CN")
    assert [level for level, _text in messages_of(response)] == ["error"]
    response = register(client, forwarded)  # the same tracking number again
    assert [level for level, _text in messages_of(response)] == ["error"]
    assert Shipment.objects.count() == 1


def test_the_reviewer_is_told_the_originals_are_the_windows(reviewer, forwarded) -> None:
    response = register(desk(reviewer), forwarded)
    assert messages_of(response) == [("error", "原件由收件窗口寄出。")]
    assert not Shipment.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"state": "flying"},
        {"state": ""},
        {},
        {"state": "delivered"},  # created → delivered
        {"state": "picked_up", "note": "x" * 256},
    ],
)
def test_bad_steps_show_a_message_and_change_nothing(window_clerk, forwarded, parcel, data) -> None:
    response = record(desk(window_clerk), forwarded, parcel, **data)
    assert response.status_code == 200
    assert [level for level, _text in messages_of(response)] == ["error"]
    parcel.refresh_from_db()
    assert parcel.state == "created"
    assert ShipmentEvent.objects.filter(shipment=parcel).count() == 1


def test_a_parcel_is_recorded_on_its_own_case_page_only(
    window_clerk, citizen, item, forwarded, parcel
) -> None:
    other = receive(window_clerk, citizen, item)
    response = desk(window_clerk).post(
        f"{page_of(other)}shipments/{parcel.pk}/steps/", {"state": "picked_up"}
    )
    assert response.status_code == 404
    parcel.refresh_from_db()
    assert parcel.state == "created"


def test_outsiders_get_no_further_than_the_case(forwarded, parcel) -> None:
    elsewhere = StaffFactory(
        window_clerk=True, department_key="cq-big-data", jurisdiction_code="500104"
    )
    client = desk(elsewhere)
    assert register(client, forwarded, tracking_number="EA000000001CN").status_code == 404
    assert record(client, forwarded, parcel, state="picked_up").status_code == 404
    citizen = desk(PersonFactory(with_login=True))
    assert register(citizen, forwarded, tracking_number="EA000000001CN").status_code == 403
    assert record(citizen, forwarded, parcel, state="picked_up").status_code == 403
    anonymous = Client().post(f"{page_of(forwarded)}shipments/", {"purpose": "originals"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/workbench/login/")
    assert Shipment.objects.count() == 1
    parcel.refresh_from_db()
    assert parcel.state == "created"


def test_the_forms_take_posts_only(window_clerk, forwarded, parcel) -> None:
    client = desk(window_clerk)
    assert client.get(f"{page_of(forwarded)}shipments/").status_code == 405
    assert client.get(f"{page_of(forwarded)}shipments/{parcel.pk}/steps/").status_code == 405


def test_control_characters_are_refused_not_a_500(window_clerk, forwarded, parcel) -> None:
    client = desk(window_clerk)
    response = client.post(
        f"{page_of(forwarded)}shipments/",
        {"purpose": "originals", "carrier": "ems", "tracking_number": "EA\x00123456"},
    )
    assert response.status_code == 400
    response = client.post(
        f"{page_of(forwarded)}shipments/{parcel.pk}/steps/", {"state": "picked_up", "note": "\x00"}
    )
    assert response.status_code == 400
    assert Shipment.objects.count() == 1
    parcel.refresh_from_db()
    assert parcel.state == "created"


def test_the_result_is_registered_from_the_page(reviewer, decided) -> None:
    client = desk(reviewer)
    response = register(
        client, decided, purpose="result", carrier="sf", tracking_number="SF1234567890"
    )
    assert messages_of(response) == [("success", "寄递已登记。")]
    assert Shipment.objects.get(case=decided).to_division_id == "500103"
    response = register(
        client,
        decided,
        purpose="result",
        carrier="sf",
        tracking_number="SF1234567891",
        to_division="999999",
    )
    assert messages_of(response) == [("error", "未知的行政区划代码。")]
    assert Shipment.objects.filter(case=decided).count() == 1
