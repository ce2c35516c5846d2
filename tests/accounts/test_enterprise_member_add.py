import pytest

from tests.factories import EnterpriseFactory, PersonFactory
from tongban.accounts import services
from tongban.accounts.models import MemberRole
from tongban.core.errors import Conflict, Forbidden, ValidationFailed

pytestmark = pytest.mark.django_db


def test_the_legal_representative_authorises_a_handler() -> None:
    representative = PersonFactory(with_login=True)
    enterprise = EnterpriseFactory(legal_representative=representative)
    handler = PersonFactory()
    member = services.enterprise_member_add(
        actor=representative.user,
        enterprise=enterprise,
        id_number=handler.id_number,
        name=handler.name,
        role=MemberRole.AUTHORISED_HANDLER,
    )
    assert (member.person, member.role) == (handler, MemberRole.AUTHORISED_HANDLER)
    with pytest.raises(Conflict):
        services.enterprise_member_add(
            actor=representative.user,
            enterprise=enterprise,
            id_number=handler.id_number,
            name=handler.name,
            role=MemberRole.AUTHORISED_HANDLER,
        )


def test_a_handler_may_not_authorise_others() -> None:
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
    another = PersonFactory()
    with pytest.raises(Forbidden):
        services.enterprise_member_add(
            actor=handler.user,
            enterprise=enterprise,
            id_number=another.id_number,
            name=another.name,
            role=MemberRole.AUTHORISED_HANDLER,
        )


def test_the_legal_representative_role_is_not_handed_out(clerk) -> None:
    enterprise = EnterpriseFactory()
    other = PersonFactory()
    with pytest.raises(ValidationFailed) as problem:
        services.enterprise_member_add(
            actor=clerk.user,
            enterprise=enterprise,
            id_number=other.id_number,
            name=other.name,
            role=MemberRole.LEGAL_REPRESENTATIVE,
        )
    assert "role" in problem.value.fields


def test_unknown_role(clerk) -> None:
    enterprise = EnterpriseFactory()
    other = PersonFactory()
    with pytest.raises(ValidationFailed) as problem:
        services.enterprise_member_add(
            actor=clerk.user,
            enterprise=enterprise,
            id_number=other.id_number,
            name=other.name,
            role="boss",
        )
    assert "role" in problem.value.fields
