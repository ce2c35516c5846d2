import pytest

from tests.factories import EnterpriseFactory, PersonFactory, make_id_number, make_uscc
from tongban.accounts import services
from tongban.accounts.models import Enterprise, EnterpriseMember, MemberRole
from tongban.core.errors import Conflict, Forbidden, ValidationFailed

pytestmark = pytest.mark.django_db


def _register(actor, representative, **overrides):
    data = {
        "uscc": make_uscc(501),
        "name": "重庆测试科技有限公司",
        "legal_representative_id_number": representative.id_number,
        "legal_representative_name": representative.name,
    }
    data.update(overrides)
    return services.enterprise_register(actor=actor, **data)


def test_a_clerk_registers_an_enterprise_and_its_legal_representative(clerk) -> None:
    representative = PersonFactory()
    enterprise = _register(clerk.user, representative)
    assert enterprise.legal_representative == representative
    assert enterprise.registered_division_id == "500103"  # characters 3–8 of the code
    member = EnterpriseMember.objects.get(enterprise=enterprise)
    assert (member.person, member.role) == (representative, MemberRole.LEGAL_REPRESENTATIVE)


def test_the_legal_representative_registers_their_own_enterprise() -> None:
    representative = PersonFactory(with_login=True)
    enterprise = _register(representative.user, representative)
    assert enterprise.legal_representative == representative


def test_someone_else_may_not_register_a_persons_enterprise() -> None:
    representative = PersonFactory()
    stranger = PersonFactory(with_login=True)
    with pytest.raises(Forbidden):
        _register(stranger.user, representative)
    assert not Enterprise.objects.exists()


def test_an_unknown_representative_or_wrong_name_is_reported_on_its_field(clerk) -> None:
    representative = PersonFactory()
    with pytest.raises(ValidationFailed) as problem:
        _register(clerk.user, representative, legal_representative_id_number=make_id_number(599))
    assert (
        str(problem.value.fields["legal_representative_id_number"])
        == "没有使用该公民身份号码的注册人员。"
    )
    with pytest.raises(ValidationFailed) as problem:
        _register(clerk.user, representative, legal_representative_name="别人")
    assert str(problem.value.fields["legal_representative_name"]) == "姓名与公民身份号码不一致。"
    assert not Enterprise.objects.exists()


def test_a_bad_uscc_is_reported(clerk) -> None:
    code = make_uscc(502)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(ValidationFailed) as problem:
        _register(clerk.user, PersonFactory(), uscc=wrong)
    assert str(problem.value.fields["uscc"]) == "统一社会信用代码校验码不正确。"


def test_a_registered_code_is_a_conflict(clerk) -> None:
    enterprise = EnterpriseFactory()
    with pytest.raises(Conflict) as problem:
        _register(clerk.user, PersonFactory(), uscc=enterprise.uscc.lower())
    assert problem.value.code == "enterprise_exists"


def test_unknown_registration_division_is_left_empty(clerk) -> None:
    enterprise = _register(clerk.user, PersonFactory(), uscc=make_uscc(503, division="990000"))
    assert enterprise.registered_division is None
