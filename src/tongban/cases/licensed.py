"""Electronic licences as case materials (免提交、免核验原件): which licence types a material
accepts, which of the applicant's licences fit it, and whether one picked for it may stand for it.

A licence stands for a material when the material names its type (``MaterialSpec.license_type``:
the type's name or code) or the type lists the material's name among what it is accepted as
(``LicenseType.accepted_as``). It is the case's applicant's licence (the person, or the applicant
enterprise), never merely the actor's: an agent picks the principal's, a window clerk the
applicant's. It must verify when it is picked — signature, issuer trusted (the trust list or this
node's own seals), within its dates, neither revoked nor superseded — and the material records
who issued it and when it was verified. No original is asked for what a licence stands for.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.cases import access
from tongban.cases.models import Case, Material
from tongban.catalog.models import MaterialSpec
from tongban.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from tongban.licenses import identifiers
from tongban.licenses.models import License, LicenseState, LicenseType
from tongban.licenses.verification import Outcome, verify_text


def license_types_for(spec: MaterialSpec) -> list[LicenseType]:
    """The licence types known here that can stand for ``spec`` (none: it takes paper only)."""
    wanted = spec.license_type.strip()
    return [
        kind
        for kind in LicenseType.objects.order_by("code")
        if (wanted and wanted in (kind.name, kind.code)) or spec.name in kind.accepted_as
    ]


def applicant_licenses_q(case: Case) -> Q:
    """The licences the case's applicant holds, as a filter on License: the applicant
    enterprise's for an enterprise's case, otherwise the applicant person's own."""
    if case.applicant_enterprise_id is not None:
        return Q(holder_enterprise_id=case.applicant_enterprise_id)
    return Q(holder_person_id=case.applicant_person_id, holder_enterprise__isnull=True)


def _fitting(case: Case, kinds: list[LicenseType]) -> Any:
    today = timezone.localdate()
    return (
        License.objects.filter(
            applicant_licenses_q(case),
            type__in=kinds,
            state=LicenseState.VALID,
            valid_from__lte=today,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .select_related("issuer", "type")
        .order_by("-issued_on", "-id")
    )


def _hands_in(actor: Any, case: Case) -> bool:
    """Whether ``actor`` may add materials to the case (the state aside): only they are shown
    the applicant's licences."""
    try:
        return access.uploader_role(actor, case) is not None
    except DomainError:  # an agent whose authorisation ended
        return False


def licenses_for_spec(actor: Any, case: Case, spec: MaterialSpec) -> list[License]:
    """The valid licences of the case's applicant that can stand for ``spec``, newest first;
    none for an actor who may not add materials to the case."""
    kinds = license_types_for(spec)
    if not kinds or not _hands_in(actor, case):
        return []
    return list(_fitting(case, kinds))


def license_choices(actor: Any, case: Case) -> dict[str, list[License]]:
    """For the case page: the scenario's materials that a licence can stand for (by key), each
    with the applicant's licences that fit it (possibly none); empty for an actor who may not
    add materials."""
    if not _hands_in(actor, case):
        return {}
    choices = {}
    for spec in case.scenario.materials.order_by("order", "pk"):
        kinds = license_types_for(spec)
        if kinds:
            choices[spec.key] = list(_fitting(case, kinds))
    return choices


def license_to_hand_in(
    *, case: Case, spec: MaterialSpec, identifier: str
) -> tuple[License, Outcome]:
    """The applicant's licence ``identifier``, checked to stand for ``spec`` and verified now;
    a DomainError saying why not otherwise (the caller has checked who acts, and when).

    ValidationFailed: the material takes no licence, the identifier is malformed, or the
    licence is of another type. NotFound: the applicant holds no such licence (someone else's is
    as unknown as one that does not exist). Conflict: it does not verify (revoked, superseded,
    expired, its issuer not trusted, its signature broken)."""
    kinds = license_types_for(spec)
    if not kinds:
        raise ValidationFailed(
            code="license_not_accepted",
            fields={
                "spec_key": _(
                    "No electronic licence can stand for this material; upload the paper."
                )
            },
        )
    try:
        parsed = identifiers.parse(identifier)
    except identifiers.InvalidIdentifier:
        raise ValidationFailed(
            fields={"identifier": _("This is not a licence identifier; choose a licence.")}
        ) from None
    found = (
        License.objects.filter(applicant_licenses_q(case), identifier=str(parsed))
        .select_related("issuer", "type")
        .first()
    )
    if found is None:
        raise NotFound(
            _("The applicant holds no licence with this identifier."), code="unknown_license"
        )
    if found.type_id not in {kind.pk for kind in kinds}:
        raise ValidationFailed(
            code="license_wrong_type",
            fields={
                "identifier": _("This material accepts %(wanted)s; this licence is a %(kind)s.")
                % {"wanted": "、".join(kind.name for kind in kinds), "kind": found.type.name}
            },
        )
    outcome = verify_text(found.credential)
    if not outcome.valid:
        raise Conflict(
            _("This licence did not pass verification and cannot stand for the material: %(why)s")
            % {"why": outcome.message},
            code=f"license_{outcome.code}",
        )
    if outcome.claims.get("lid") != found.identifier:  # a credential stored with another licence
        raise Conflict(
            _("The signed credential of this licence names another licence."),
            code="license_wrong_credential",
        )
    return found, outcome


def checklist_text(material: Material) -> str:
    """How the checklist shows a material a licence stands for."""
    verified = timezone.localtime(material.verified_at) if material.verified_at else None
    return str(
        _("Electronic licence %(name)s %(identifier)s, verified (%(issuer)s, %(time)s)")
        % {
            "name": material.license_name,
            "identifier": material.reference,
            "issuer": material.license_issuer,
            "time": verified.strftime("%Y-%m-%d %H:%M") if verified else "—",
        }
    )


def license_states(references: list[str]) -> dict[str, str]:
    """The current state (its label) of the licences among ``references`` that this node
    issued; another node's licence is left out (its status is that node's to tell)."""
    rows = License.objects.filter(identifier__in=references).values_list("identifier", "state")
    return {identifier: str(LicenseState(state).label) for identifier, state in rows}
