"""Agent authorisations (帮办代办): granted, recorded, used, revoked, expired."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.cases.conftest import PDF, form_for
from tests.factories import PersonFactory, StaffFactory
from tongban.accounts.models import RealNameLevel
from tongban.cases import selectors, services
from tongban.cases.models import AgentAuthorisation, AuthorisationState, Case, PowerOfAttorney
from tongban.catalog.models import ServiceItem
from tongban.catalog.selectors import version_current
from tongban.core.errors import Forbidden, NotFound, ValidationFailed
from tongban.core.models import AuditEntry

pytestmark = pytest.mark.django_db
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def principal(db: None) -> Any:
    return PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)


@pytest.fixture
def agent(db: None) -> Any:
    return PersonFactory(with_login=True)  # L3


@pytest.fixture
def other_item(db: None) -> ServiceItem:
    return ServiceItem.objects.get(version=version_current(), name="学位公证")


def grant(principal: Any, agent: Any, **changes: Any) -> AgentAuthorisation:
    today = timezone.localdate()
    data: dict[str, Any] = {
        "actor": principal.user,
        "agent_id_number": agent.id_number,
        "agent_name": agent.name,
        "all_items": True,
        "valid_until": today + dt.timedelta(days=30),
    }
    data.update(changes)
    return services.agent_authorisation_grant(**data)


def submit_for(actor: Any, item: ServiceItem, principal: Any, authorisation: Any) -> Case:
    return services.case_submit(
        actor=actor,
        item_code=item.code,
        scenario_key="general",
        authority_division="500000",
        form_data=form_for(principal),
        authorisation_id=authorisation.pk,
    )


# Granting -------------------------------------------------------------------------------------


def test_the_principal_grants_online(principal: Any, agent: Any, item: ServiceItem) -> None:
    authorisation = grant(principal, agent, all_items=False, item_codes=[item.code.lower()])
    assert authorisation.principal == principal
    assert authorisation.agent_person == agent
    assert authorisation.item_codes == [item.code]
    assert authorisation.valid_from == timezone.localdate()
    assert authorisation.power_of_attorney == PowerOfAttorney.SIGNED_ONLINE
    assert authorisation.created_by == principal.user
    assert authorisation.state == AuthorisationState.ACTIVE
    entry = AuditEntry.objects.get(action="authorisation.granted")
    assert entry.changes["signed"] == "online"
    assert list(selectors.authorisations_given(actor=principal.user)) == [authorisation]
    assert list(selectors.authorisations_received(actor=agent.user)) == [authorisation]


def test_naming_the_agent_tells_nothing_about_who_is_registered(principal: Any) -> None:
    registered = PersonFactory()
    answers = []
    for id_number, name in (
        (registered.id_number, "不是此人"),  # registered, wrong name
        ("11010519491231002X", "张三"),  # not registered
    ):
        with pytest.raises(ValidationFailed) as refused:
            grant(principal, registered, agent_id_number=id_number, agent_name=name)
        answers.append({k: str(v) for k, v in refused.value.fields.items()})
    assert answers[0] == answers[1] == {"agent_id_number": answers[0]["agent_id_number"]}
    assert not AgentAuthorisation.objects.exists()


def test_what_a_grant_must_say(principal: Any, agent: Any) -> None:
    today = timezone.localdate()
    cases = [
        ({"agent_id_number": principal.id_number, "agent_name": principal.name}, "agent_id_number"),
        ({"all_items": False, "item_codes": []}, "item_codes"),
        ({"all_items": False, "item_codes": ["990000009999"]}, "item_codes"),
        ({"all_items": False, "item_codes": "992000000001"}, "item_codes"),
        ({"valid_from": today - dt.timedelta(days=1)}, "valid_from"),
        ({"valid_until": today - dt.timedelta(days=1)}, "valid_until"),
        ({"valid_until": today + dt.timedelta(days=400)}, "valid_until"),
    ]
    for changes, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            grant(principal, agent, **changes)
        assert field in refused.value.fields, changes
    staff = StaffFactory(window_clerk=True)
    with pytest.raises(Forbidden):  # staff have no person to authorise for
        grant(principal, agent, actor=staff.user)
    assert not AgentAuthorisation.objects.exists()


def test_a_clerk_records_a_paper_power_of_attorney(principal: Any, agent: Any) -> None:
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    authorisation = services.agent_authorisation_record(
        actor=clerk.user,
        principal_id_number=principal.id_number,
        principal_name=principal.name,
        agent_id_number=agent.id_number,
        agent_name=agent.name,
        all_items=True,
        valid_until=timezone.localdate() + dt.timedelta(days=10),
        upload=SimpleUploadedFile("委托书.pdf", PDF, content_type="application/pdf"),
    )
    assert authorisation.power_of_attorney == PowerOfAttorney.UPLOADED
    assert authorisation.path.startswith(f"authorisations/{principal.pk}/")
    assert "委托书" not in authorisation.path
    assert default_storage.exists(authorisation.path)
    assert authorisation.original_name == "委托书.pdf"
    assert len(authorisation.sha256) == 64
    assert AuditEntry.objects.filter(action="authorisation.recorded_at_window").exists()


def test_a_staff_helper_can_be_the_agent(principal: Any, item: ServiceItem) -> None:
    clerk = StaffFactory(window_clerk=True, department_key="cq-big-data")
    helper = StaffFactory(window_clerk=True, department_key="cq-big-data")
    authorisation = services.agent_authorisation_record(
        actor=clerk.user,
        principal_id_number=principal.id_number,
        principal_name=principal.name,
        agent_employee_number=helper.employee_number,
        all_items=True,
        valid_until=timezone.localdate() + dt.timedelta(days=10),
        upload=SimpleUploadedFile("poa.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32),
    )
    case = submit_for(helper.user, item, principal, authorisation)
    assert (case.applicant_person, case.agent, case.authorisation) == (
        principal,
        None,
        authorisation,
    )
    assert selectors.case_agent_label(case).startswith(helper.name)
    assert case in selectors.visible_cases(actor=helper.user)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("poa.pdf", b"MZ\x90\x00 not a pdf"),  # the content is not what the name says
        ("poa.exe", PDF),
        ("poa.pdf", b""),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_kept(
    principal: Any, agent: Any, name: str, content: bytes
) -> None:
    clerk = StaffFactory(window_clerk=True)
    with pytest.raises(ValidationFailed) as refused:
        services.agent_authorisation_record(
            actor=clerk.user,
            principal_id_number=principal.id_number,
            principal_name=principal.name,
            agent_id_number=agent.id_number,
            agent_name=agent.name,
            all_items=True,
            valid_until=timezone.localdate(),
            upload=SimpleUploadedFile(name, content),
        )
    assert "file" in refused.value.fields
    assert not AgentAuthorisation.objects.exists()


def test_only_window_staff_record_paper_ones(principal: Any, agent: Any) -> None:
    for actor in (agent.user, StaffFactory(reviewer=True).user):
        with pytest.raises(Forbidden):
            services.agent_authorisation_record(
                actor=actor,
                principal_id_number=principal.id_number,
                principal_name=principal.name,
                agent_id_number=agent.id_number,
                agent_name=agent.name,
                all_items=True,
                valid_until=timezone.localdate(),
                upload=SimpleUploadedFile("poa.pdf", PDF),
            )


# Using it -------------------------------------------------------------------------------------


def test_the_agent_applies_and_both_act(principal: Any, agent: Any, item: ServiceItem) -> None:
    """The principal (L1) is the applicant; the agent (L3) applies, and may act; the principal
    keeps full access."""
    authorisation = grant(principal, agent)
    case = submit_for(agent.user, item, principal, authorisation)
    assert (case.applicant_person, case.agent, case.authorisation) == (
        principal,
        agent,
        authorisation,
    )
    first = case.events.get()
    assert first.payload["authorisation"] == authorisation.pk
    assert case in selectors.visible_cases(actor=principal.user)
    assert case in selectors.visible_cases(actor=agent.user)
    assert services.actions_for(actor=agent.user, case=case) == ["withdraw"]
    assert services.actions_for(actor=principal.user, case=case) == ["withdraw"]
    services.material_upload(
        actor=agent.user,
        number=case.number,
        spec_key="identity",
        upload=SimpleUploadedFile("id.pdf", PDF),
    )
    services.case_act(actor=principal.user, number=case.number, action="withdraw")


def test_the_agent_level_is_checked_not_the_principals(principal: Any, item: ServiceItem) -> None:
    weak_agent = PersonFactory(with_login=True, real_name_level=RealNameLevel.REGISTERED)
    authorisation = grant(principal, weak_agent)
    with pytest.raises(Forbidden) as refused:
        submit_for(weak_agent.user, item, principal, authorisation)
    assert refused.value.code == "real_name_level_too_low"


def test_someone_elses_authorisation_is_not_found(
    principal: Any, agent: Any, item: ServiceItem
) -> None:
    authorisation = grant(principal, agent)
    stranger = PersonFactory(with_login=True)
    for actor in (stranger.user, principal.user):  # the principal is not their own agent
        with pytest.raises(NotFound):
            submit_for(actor, item, principal, authorisation)
    assert not Case.objects.exists()


def test_an_item_not_covered_is_refused(
    principal: Any, agent: Any, item: ServiceItem, other_item: ServiceItem
) -> None:
    authorisation = grant(principal, agent, all_items=False, item_codes=[other_item.code])
    with pytest.raises(Forbidden) as refused:
        submit_for(agent.user, item, principal, authorisation)
    assert refused.value.code == "authorisation_not_for_item"
    assert submit_for(agent.user, other_item, principal, authorisation).item == other_item


def test_not_at_a_window_nor_with_an_enterprise(
    principal: Any, agent: Any, item: ServiceItem
) -> None:
    authorisation = grant(principal, agent)
    with pytest.raises(ValidationFailed) as refused:
        services.case_submit(
            actor=agent.user,
            item_code=item.code,
            scenario_key="general",
            authority_division="500000",
            form_data=form_for(principal),
            enterprise_uscc="91500103MA0000000Q",
            authorisation_id=authorisation.pk,
        )
    assert "authorisation_id" in refused.value.fields


def test_revoked_stops_the_agent_at_once(principal: Any, agent: Any, item: ServiceItem) -> None:
    authorisation = grant(principal, agent)
    case = submit_for(agent.user, item, principal, authorisation)
    services.agent_authorisation_revoke(
        actor=principal.user, authorisation_id=authorisation.pk, reason="不再需要"
    )
    authorisation.refresh_from_db()
    assert authorisation.state == AuthorisationState.REVOKED
    assert authorisation.revoke_reason == "不再需要"
    assert authorisation.revoked_by == principal.user
    with pytest.raises(Forbidden) as refused:
        submit_for(agent.user, item, principal, authorisation)
    assert refused.value.code == "authorisation_revoked"
    with pytest.raises(Forbidden) as acting:
        services.case_act(actor=agent.user, number=case.number, action="withdraw")
    assert acting.value.code == "authorisation_revoked"
    with pytest.raises(Forbidden):
        services.material_upload(
            actor=agent.user,
            number=case.number,
            spec_key="identity",
            upload=SimpleUploadedFile("id.pdf", PDF),
        )
    assert services.actions_for(actor=agent.user, case=case) == []
    # The principal still acts; the agent still sees what they filed (read only).
    assert services.actions_for(actor=principal.user, case=case) == ["withdraw"]
    assert case in selectors.visible_cases(actor=agent.user)
    # Revoking again changes nothing.
    services.agent_authorisation_revoke(actor=principal.user, authorisation_id=authorisation.pk)
    assert AuditEntry.objects.filter(action="authorisation.revoked").count() == 1


def test_expired_stops_the_agent(principal: Any, agent: Any, item: ServiceItem) -> None:
    today = timezone.localdate()
    authorisation = grant(principal, agent, valid_until=today + dt.timedelta(days=2))
    case = submit_for(agent.user, item, principal, authorisation)
    later = dt.datetime.combine(today + dt.timedelta(days=3), dt.time(10), tzinfo=SHANGHAI)
    with time_machine.travel(later, tick=False):
        with pytest.raises(Forbidden) as refused:
            services.case_act(actor=agent.user, number=case.number, action="withdraw")
        assert refused.value.code == "authorisation_expired"
        with pytest.raises(Forbidden) as applying:
            submit_for(agent.user, item, principal, authorisation)
        assert applying.value.code == "authorisation_expired"
        assert selectors.authorisations_usable(actor=agent.user, item_code=item.code) == []
        assert services.authorisations_expire() == 1
        assert services.authorisations_expire() == 0
    authorisation.refresh_from_db()
    assert authorisation.state == AuthorisationState.EXPIRED


def test_not_yet_valid(principal: Any, agent: Any, item: ServiceItem) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    authorisation = grant(principal, agent, valid_from=tomorrow, valid_until=tomorrow)
    with pytest.raises(Forbidden) as refused:
        submit_for(agent.user, item, principal, authorisation)
    assert refused.value.code == "authorisation_not_yet_valid"


# Revoking -------------------------------------------------------------------------------------


def test_who_may_revoke(principal: Any, agent: Any) -> None:
    authorisation = grant(principal, agent)
    stranger = PersonFactory(with_login=True)
    with pytest.raises(Forbidden):  # the agent sees it, and may only stop using it
        services.agent_authorisation_revoke(actor=agent.user, authorisation_id=authorisation.pk)
    for actor in (stranger.user, StaffFactory(reviewer=True).user):
        with pytest.raises(NotFound):
            services.agent_authorisation_revoke(actor=actor, authorisation_id=authorisation.pk)
    clerk = StaffFactory(window_clerk=True)
    with pytest.raises(ValidationFailed) as no_reason:
        services.agent_authorisation_revoke(actor=clerk.user, authorisation_id=authorisation.pk)
    assert "reason" in no_reason.value.fields
    revoked = services.agent_authorisation_revoke(
        actor=clerk.user, authorisation_id=authorisation.pk, reason="委托人到窗口要求撤销"
    )
    assert revoked.state == AuthorisationState.REVOKED
    with pytest.raises(NotFound):
        services.agent_authorisation_revoke(actor=clerk.user, authorisation_id=999_999)


def test_a_clerk_finds_a_persons_authorisations(principal: Any, agent: Any) -> None:
    authorisation = grant(principal, agent)
    clerk = StaffFactory(window_clerk=True)
    found = selectors.authorisations_of_person(
        actor=clerk.user, id_number=agent.id_number, name=agent.name
    )
    assert list(found) == [authorisation]
    with pytest.raises(NotFound):
        selectors.authorisations_of_person(actor=clerk.user, id_number=agent.id_number, name="别人")
    with pytest.raises(Forbidden):  # citizens may not look anyone up
        selectors.authorisations_of_person(
            actor=principal.user, id_number=agent.id_number, name=agent.name
        )
