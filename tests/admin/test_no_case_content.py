"""Platform admins run the node; the admin pages show them the exchange's envelopes and the load
on the windows, never what the messages say or who booked (cases/access.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.delivery.appointments_support import at, book
from tests.factories import PersonFactory
from tongban.exchange.models import EvidenceEntry, InboxMessage, OutboxMessage

pytestmark = pytest.mark.django_db

SECRET = "张秘密-510103199001011234"


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_message_pages_show_the_envelope_not_the_content(admin_ui: Client) -> None:
    now = timezone.now()
    common = {"type": "cn.tongban.case.submitted", "subject": "CASE-1", "sequence": 1}
    outgoing = OutboxMessage.objects.create(
        event_id=uuid.uuid4(), recipient="510000", token=SECRET, next_attempt_at=now, **common
    )
    incoming = InboxMessage.objects.create(
        event_id=uuid.uuid4(),
        source="510000",
        event={"data": {"name": SECRET}},
        token=SECRET,
        state="applied",
        **common,
    )
    evidence = EvidenceEntry.objects.create(
        seq=1,
        direction="out",
        peer="510000",
        event_id=outgoing.event_id,
        token=SECRET,
        at=now,
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    for url in (
        f"/admin/exchange/outboxmessage/{outgoing.pk}/change/",
        f"/admin/exchange/inboxmessage/{incoming.pk}/change/",
        f"/admin/exchange/evidenceentry/{evidence.pk}/change/",
    ):
        page = _page(admin_ui, url)
        assert "CASE-1" in page or "510000" in page  # the envelope is there
        assert SECRET not in page, url
        assert "510103199001011234" not in page, url


def test_the_bookings_page_does_not_name_who_booked(admin_ui: Client, window: Any) -> None:
    person = PersonFactory(with_login=True, name="王不显")
    appointment = book(person, window, at(23, 9))
    page = _page(admin_ui, f"/admin/delivery/appointment/{appointment.pk}/change/")
    assert appointment.code in page
    assert "王不显" not in page
    assert person.name_masked not in page


def test_case_content_has_no_admin_pages() -> None:
    from django.contrib import admin

    registered = {model._meta.label_lower for model in admin.site._registry}
    assert not registered & {
        "cases.case",
        "cases.material",
        "cases.caseevent",
        "cases.agentauthorisation",
        "delivery.shipment",
    }
