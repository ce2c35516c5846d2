"""Factories that build state through the domain services, with traits per state.

``PersonFactory()`` registers a person at a window; ``PersonFactory(with_login=True)`` signs one
up online. Either is then verified in person (L3) through the window's service, so most tests can
apply for any item; ``PersonFactory(real_name_level=1)`` keeps the level a new account has.
``StaffFactory(approver=True, department_key="cq-hrss")`` creates a staff login with
that role. Identifiers are generated valid (check digits computed), distinct per sequence.
"""

from __future__ import annotations

from typing import Any

import factory
from stdnum.cn import ric, uscc

from tongban.accounts import services
from tongban.accounts.models import Enterprise, Person, RealNameLevel, Staff, StaffRole
from tongban.core.audit import SYSTEM

PASSWORD = "Correct-Horse-42"


def make_id_number(sequence: int, *, place: str = "500103", birth_date: str = "19990307") -> str:
    body = f"{place}{birth_date}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_uscc(sequence: int, *, division: str = "500103") -> str:
    body = f"91{division}MA{sequence % 10_000_000:07d}"
    return body + uscc.calc_check_digit(body)


def make_phone(sequence: int) -> str:
    return f"139{sequence % 100_000_000:08d}"


class PersonFactory(factory.Factory):
    class Meta:
        model = Person

    # Passed to _create (not Params, which factory_boy keeps to itself).
    with_login = False
    password = PASSWORD
    real_name_level = RealNameLevel.VERIFIED_IN_PERSON
    name = factory.Sequence(lambda n: f"测试{'甲乙丙丁戊己庚辛壬癸'[n % 10]}{n}")
    id_number = factory.Sequence(make_id_number)
    phone = factory.Sequence(make_phone)

    @classmethod
    def _create(cls, model_class: type[Person], *args: Any, **kwargs: Any) -> Person:
        with_login = kwargs.pop("with_login")
        password = kwargs.pop("password")
        level = kwargs.pop("real_name_level")
        if with_login:
            person = services.person_sign_up(password=password, **kwargs)
        else:
            person = services.person_register_at_window(actor=SYSTEM, **kwargs)
        if level == RealNameLevel.VERIFIED_IN_PERSON:
            services.person_verify_in_person(
                actor=SYSTEM, person=person, document_checked="resident_id_card"
            )
        elif level != RealNameLevel.REGISTERED:
            # No shipped method grants L2; tests reach it through a provider double.
            raise ValueError("PersonFactory builds L1 or L3 persons")
        return person


class StaffFactory(factory.Factory):
    class Meta:
        model = Staff

    class Params:
        window_clerk = factory.Trait(roles=[StaffRole.WINDOW_CLERK])
        reviewer = factory.Trait(roles=[StaffRole.REVIEWER])
        approver = factory.Trait(roles=[StaffRole.APPROVER])
        department_admin = factory.Trait(roles=[StaffRole.DEPARTMENT_ADMIN])
        supervisor = factory.Trait(roles=[StaffRole.SUPERVISOR], department_key="cq-general-office")
        platform_admin = factory.Trait(
            roles=[StaffRole.PLATFORM_ADMIN], department_key="cq-big-data"
        )

    username = factory.Sequence(lambda n: f"staff{n}")
    password = PASSWORD
    name = factory.Sequence(lambda n: f"工作人员{n}")
    employee_number = factory.Sequence(lambda n: f"T{n:05d}")
    department_key = "cq-hrss"
    jurisdiction_code = "500000"
    roles: Any = [StaffRole.WINDOW_CLERK]

    @classmethod
    def _create(cls, model_class: type[Staff], *args: Any, **kwargs: Any) -> Staff:
        return services.staff_create(actor=SYSTEM, **kwargs)


class EnterpriseFactory(factory.Factory):
    class Meta:
        model = Enterprise

    uscc = factory.Sequence(make_uscc)
    name = factory.Sequence(lambda n: f"测试企业{n}有限公司")
    legal_representative = factory.SubFactory(PersonFactory)

    @classmethod
    def _create(cls, model_class: type[Enterprise], *args: Any, **kwargs: Any) -> Enterprise:
        representative: Person = kwargs.pop("legal_representative")
        return services.enterprise_register(
            actor=SYSTEM,
            legal_representative_id_number=representative.id_number,
            legal_representative_name=representative.name,
            **kwargs,
        )
