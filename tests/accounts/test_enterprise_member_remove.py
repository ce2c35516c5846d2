"""The legal representative removes an authorised handler; a handler's identity check does not
tell a citizen who is registered."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import EnterpriseFactory, PersonFactory, StaffFactory
from tongban.accounts import selectors, services
from tongban.accounts.models import EnterpriseMember, MemberRole
from tongban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def company(db: None) -> Any:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory(with_login=True)
    services.enterprise_member_add(
        actor=representative.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role=MemberRole.AUTHORISED_HANDLER,
    )
    return enterprise, representative, handler


def test_the_legal_representative_removes_a_handler(company: Any) -> None:
    enterprise, representative, handler = company
    services.enterprise_member_remove(
        actor=representative.user, enterprise=enterprise, person_id=handler.pk, reason="离职"
    )
    assert not EnterpriseMember.objects.filter(enterprise=enterprise, person=handler).exists()
    entry = AuditEntry.objects.get(action="enterprise.member_removed")
    assert entry.changes == {
        "person": handler.pk,
        "role": MemberRole.AUTHORISED_HANDLER,
        "reason": "离职",
    }
    with pytest.raises(NotFound):  # twice: nothing left to remove
        services.enterprise_member_remove(
            actor=representative.user, enterprise=enterprise, person_id=handler.pk
        )


def test_a_clerk_may_remove_one_at_the_window(company: Any) -> None:
    enterprise, _representative, handler = company
    clerk = StaffFactory(window_clerk=True)
    services.enterprise_member_remove(actor=clerk.user, enterprise=enterprise, person_id=handler.pk)
    assert not enterprise.members.filter(person=handler).exists()


def test_a_handler_or_a_stranger_may_not_remove(company: Any) -> None:
    enterprise, _representative, handler = company
    stranger = PersonFactory(with_login=True)
    for actor in (handler.user, stranger.user, StaffFactory(reviewer=True).user):
        with pytest.raises(Forbidden):
            services.enterprise_member_remove(
                actor=actor, enterprise=enterprise, person_id=handler.pk
            )
    assert enterprise.members.filter(person=handler).exists()


def test_the_legal_representative_is_not_removed_this_way(company: Any) -> None:
    enterprise, representative, _handler = company
    with pytest.raises(Conflict) as refused:
        services.enterprise_member_remove(
            actor=representative.user, enterprise=enterprise, person_id=representative.pk
        )
    assert refused.value.code == "member_is_legal_representative"


def test_members_are_listed_for_members_and_window_staff(company: Any) -> None:
    enterprise, _representative, handler = company
    roles = [
        m.role for m in selectors.enterprise_members(actor=handler.user, enterprise=enterprise)
    ]
    assert sorted(roles) == [MemberRole.AUTHORISED_HANDLER, MemberRole.LEGAL_REPRESENTATIVE]
    with pytest.raises(Forbidden):
        selectors.enterprise_members(
            actor=PersonFactory(with_login=True).user, enterprise=enterprise
        )


def test_naming_a_handler_does_not_tell_who_is_registered(company: Any) -> None:
    """Unknown ID number and wrong name give the same answer to a legal representative."""
    enterprise, representative, _handler = company
    other = PersonFactory()
    answers = []
    for id_number, name in ((other.id_number, "不是此人"), ("11010519491231002X", "张三")):
        with pytest.raises(ValidationFailed) as refused:
            services.enterprise_member_add(
                actor=representative.user,
                enterprise=enterprise,
                id_number=id_number,
                name=name,
                role=MemberRole.AUTHORISED_HANDLER,
            )
        answers.append({k: str(v) for k, v in refused.value.fields.items()})
    assert answers[0] == answers[1]
    assert list(answers[0]) == ["id_number"]
