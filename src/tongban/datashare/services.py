"""Data sharing: publishing resources, grants (deny by default), calls answered at the source,
the evidence log and disputes.

Writes follow the house shape: check, lock, write, audit, messages in the same transaction.
A refusal is written to the evidence log in a transaction of its own (it must stay when the
request fails) and then raised.

Across provinces:

- a grant request travels to the provider's node as ``cn.tongban.datashare.grant_requested``;
  its decision and a revocation travel back as ``…grant_decided``, a withdrawal to the provider
  as ``…grant_withdrawn`` (subject: the grant's id, so they apply in order). Event types must
  look like ``cn.tongban.<domain>.<event>`` (exchange/envelope.py), or message_send refuses them;
- a call is a node token (``tongban-datashare-call+jws``, parameters encrypted to the provider's
  key) posted to the provider's ``/federation/v1/datashare/call``; the provider logs it, checks it
  against its grant and answers with a node token of its own (``tongban-datashare-answer+jws``,
  records encrypted to the consumer's key) naming the request's hash. Both sides keep both
  tokens in their evidence logs;
- a dispute raised on a call travels as ``cn.tongban.datashare.dispute_raised``, its outcome
  back as ``cn.tongban.datashare.dispute_resolved``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.accounts.models import StaffRole
from tongban.accounts.permissions import Scope, staff_scope
from tongban.core import chain
from tongban.core.audit import SYSTEM, audit_record
from tongban.core.errors import Conflict, DomainError, FieldErrors, ValidationFailed
from tongban.core.logging import get_logger
from tongban.core.pii import pii_decrypt, pii_encrypt, pii_hash
from tongban.datashare import questions as q
from tongban.datashare.errors import DEFINITION_PROBLEMS, PARAM_PROBLEMS, Refused, refusal
from tongban.datashare.models import (
    Call,
    CallKind,
    CallOutcome,
    CallSide,
    Dispute,
    DisputeKind,
    DisputeState,
    Grant,
    GrantState,
    Resource,
    Sensitivity,
    SourceRecord,
    SubjectKind,
)
from tongban.regions.models import Department

log = get_logger(__name__)

CALL_TYP = "tongban-datashare-call+jws"
ANSWER_TYP = "tongban-datashare-answer+jws"
CATALOGUE_TYP = "tongban-datashare-catalogue+jws"
# A signed call is good for this long after it was made (clocks within a minute of each other).
CALL_LIFETIME = dt.timedelta(seconds=120)
CATALOGUE_REFRESH = dt.timedelta(minutes=10)
CATALOGUE_MAX_BYTES = 2 * 1024 * 1024
RECORD_PURPOSE = "datashare.record"
SUBJECT_PURPOSE = "datashare.subject"
MAX_RATE = 100_000
MAX_GRANT_DAYS = 5 * 366

# A platform admin (the node's operator) may act for any department of the node.
ADMINS = (StaffRole.DEPARTMENT_ADMIN, StaffRole.PLATFORM_ADMIN)
CALLERS = (
    StaffRole.WINDOW_CLERK,
    StaffRole.REVIEWER,
    StaffRole.APPROVER,
    StaffRole.DEPARTMENT_ADMIN,
)
RESOLVERS = (StaffRole.DEPARTMENT_ADMIN, StaffRole.SUPERVISOR, StaffRole.PLATFORM_ADMIN)

GRANT_REQUESTED = "cn.tongban.datashare.grant_requested"
GRANT_DECIDED = "cn.tongban.datashare.grant_decided"
GRANT_WITHDRAWN = "cn.tongban.datashare.grant_withdrawn"
DISPUTE_RAISED = "cn.tongban.datashare.dispute_raised"
DISPUTE_RESOLVED = "cn.tongban.datashare.dispute_resolved"


def own_node() -> str:
    return str(settings.TONGBAN_NODE_CODE)


def _label(actor: Any) -> str:
    """Who acted, as the logs and the other node show it: staff by name and number."""
    from tongban.accounts.selectors import staff_for_user

    staff = staff_for_user(actor)
    if staff is not None:
        return str(staff)[:128]
    from tongban.accounts.selectors import person_for_user
    from tongban.core.masking import mask_name

    person = person_for_user(actor)
    if person is not None:
        # A citizen (applicant or agent) checking a material of their case: their login name means
        # nothing to the provider; the masked name and the part they play do.
        return str(_("%(name)s (citizen)") % {"name": mask_name(person.name)})[:128]
    return str(actor.get_username() if hasattr(actor, "get_username") else "system")[:128]


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# Resources ----------------------------------------------------------------------------------


def _admin_of(actor: Any, department: Department) -> Scope:
    scope = staff_scope(actor, ADMINS)
    if not scope.covers_department(department):
        raise _forbidden_department()
    return scope


def _forbidden_department() -> DomainError:
    from tongban.core.errors import Forbidden

    return Forbidden(_("Only the department's own administrator may do this."))


def resource_publish(
    *,
    actor: Any,
    department: Department,
    key: str,
    name: str,
    subject_kind: str,
    sensitivity: str,
    fields: Any,
    questions: Any,
    description: str = "",
    update_hours: int = 24,
    active: bool = True,
) -> Resource:
    """Publish (or update) one of this node's resources for ``department``: its department
    admin (or a platform admin) only. The definition is checked whole (datashare/questions.py);
    a resource keeps its key, and another department's key is refused."""
    _admin_of(actor, department)
    errors = FieldErrors()
    if not q.KEY.match(key or "") and not _slug(key):
        errors.add("key", _("Use lower-case letters, digits, - and _ (at most 64)."))
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        errors.add("name", _("Give a name of at most 128 characters."))
    if sensitivity not in Sensitivity.values:
        errors.add("sensitivity", _("Choose a sensitivity level."))
    if not isinstance(update_hours, int) or not 1 <= update_hours <= 24 * 366:
        errors.add("update_hours", _("Give the hours between updates (1 to 8784)."))
    if not isinstance(description, str) or len(description) > 2000:
        errors.add("description", _("At most 2000 characters."))
    try:
        clean_fields, clean_questions = q.check_definition(
            subject_kind=subject_kind, fields=fields, questions=questions
        )
    except q.QueryError as error:
        errors.add(
            error.field or "questions",
            DEFINITION_PROBLEMS.get(
                error.code, _("This definition is not valid (%(code)s).") % {"code": error.code}
            ),
        )
        clean_fields, clean_questions = [], []
    errors.raise_if_any()
    now = timezone.now()
    with transaction.atomic():
        existing = Resource.objects.select_for_update().filter(node=own_node(), key=key).first()
        if existing is not None and existing.department_id != department.pk:
            raise Conflict(
                _("Another department publishes a resource with this key."), code="key_taken"
            )
        values = {
            "name": name.strip(),
            "description": description.strip(),
            "department": department,
            "department_name": department.name,
            "subject_kind": subject_kind,
            "sensitivity": sensitivity,
            "fields": clean_fields,
            "questions": clean_questions,
            "update_hours": update_hours,
            "active": active,
        }
        if existing is None:
            resource = Resource.objects.create(node=own_node(), key=key, updated_at=now, **values)
            audit_record(actor=actor, action="datashare.resource_published", target=resource)
            return resource
        old = {name: getattr(existing, name) for name in values if name != "department"}
        changes = {
            name: [old[name], value]
            for name, value in values.items()
            if name != "department" and old[name] != value
        }
        if not changes:
            return existing
        for name, value in values.items():
            setattr(existing, name, value)
        existing.updated_at = now
        existing.save()
        audit_record(
            actor=actor, action="datashare.resource_updated", target=existing, changes=changes
        )
        return existing


def _slug(key: Any) -> bool:
    import re

    return isinstance(key, str) and bool(re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", key))


def records_load(
    *, actor: Any, resource: Resource, records: Iterable[dict[str, Any]], replace: bool = False
) -> int:
    """Load source records into one of this node's resources (a department's export, or the
    demo set): each ``{"subject": ID number or USCC, "data": {field: value}}``; fields the
    resource does not define are refused. ``replace`` drops the resource's records first."""
    if resource.node != own_node() or resource.department is None:
        raise ValidationFailed(_("Only this node's own resources hold source data here."))
    _admin_of(actor, resource.department)
    known = set(resource.field_names())
    rows = []
    now = timezone.now()
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise ValidationFailed(fields={f"records.{index}": _("Give subject and data.")})
        try:
            subject = q.subject_of(resource.subject_kind, record.get("subject"))
        except q.QueryError:
            raise ValidationFailed(
                fields={f"records.{index}.subject": PARAM_PROBLEMS["invalid_subject"]}
            ) from None
        unknown = set(record["data"]) - known
        if unknown:
            raise ValidationFailed(
                fields={
                    f"records.{index}.data": _("Unknown fields: %(f)s")
                    % {"f": ", ".join(sorted(unknown))}
                }
            )
        rows.append(
            SourceRecord(
                resource=resource,
                subject_hash=pii_hash(subject, purpose=SUBJECT_PURPOSE),
                data=pii_encrypt(_canonical(record["data"]).decode(), purpose=RECORD_PURPOSE),
                updated_at=now,
            )
        )
    with transaction.atomic():
        if replace:
            SourceRecord.objects.filter(resource=resource).delete()
        SourceRecord.objects.bulk_create(rows, batch_size=500)
        audit_record(
            actor=actor,
            action="datashare.records_loaded",
            target=resource,
            changes={"records": len(rows), "replace": replace},
        )
    return len(rows)


def _records_about(resource: Resource, subject: str) -> list[dict[str, Any]]:
    hashed = pii_hash(subject, purpose=SUBJECT_PURPOSE)
    out = []
    for row in SourceRecord.objects.filter(resource=resource, subject_hash=hashed).order_by("pk"):
        out.append(json.loads(pii_decrypt(row.data, purpose=RECORD_PURPOSE)))
    return out


def resource_find(ref: str) -> Resource:
    """A resource by its reference ``<node>.<key>`` (or a bare key: this node's)."""
    node, _dot, key = ref.rpartition(".")
    node = node or own_node()
    found = Resource.objects.filter(node=node, key=key).select_related("department").first()
    if found is None:
        raise refusal("unknown_resource")
    return found


# Grants -------------------------------------------------------------------------------------


def _grant_message(grant: Grant) -> dict[str, Any]:
    return {
        "uid": str(grant.uid),
        "resource": grant.resource.key,
        "consumer_node": grant.consumer_node,
        "consumer_department_key": grant.consumer_department_key,
        "consumer_department_name": grant.consumer_department_name,
        "purpose": grant.purpose,
        "items": grant.items,
        "requested_questions": grant.requested_questions,
        "requested_fields": grant.requested_fields,
        "questions": grant.questions,
        "fields": grant.fields,
        "valid_from": grant.valid_from.isoformat() if grant.valid_from else None,
        "valid_until": grant.valid_until.isoformat() if grant.valid_until else None,
        "rate_limit": grant.rate_limit,
        "state": grant.state,
        "requested_by": grant.requested_by,
        "requested_at": grant.requested_at.isoformat(),
        "decided_by": grant.decided_by,
        "decided_at": grant.decided_at.isoformat() if grant.decided_at else None,
        "reason": grant.reason,
    }


def _scope_errors(
    resource: Resource, questions: Any, fields: Any, errors: FieldErrors
) -> tuple[list[str], list[str]]:
    if not isinstance(questions, list) or not all(isinstance(x, str) for x in questions):
        errors.add("questions", _("Give a list of question keys."))
        questions = []
    if not isinstance(fields, list) or not all(isinstance(x, str) for x in fields):
        errors.add("fields", _("Give a list of field keys."))
        fields = []
    unknown_q = [x for x in questions if resource.question(x) is None]
    unknown_f = [x for x in fields if x not in resource.field_names()]
    if unknown_q:
        errors.add("questions", PARAM_PROBLEMS["unknown_question"])
    if unknown_f:
        errors.add("fields", PARAM_PROBLEMS["unknown_field"])
    if not questions and not fields:
        errors.add("questions", _("Ask for at least one question or field."))
    return sorted(set(questions)), sorted(set(fields))


def grant_request(
    *,
    actor: Any,
    resource: Resource,
    purpose: str,
    items: Any,
    questions: Any = (),
    fields: Any = (),
) -> Grant:
    """A consuming department asks for access to ``resource`` (供需对接): its department admin
    only, for a stated purpose serving catalogue items, for named questions and fields. The
    request goes to the provider (a message when it is another node's)."""
    scope = staff_scope(actor, ADMINS)
    if scope.staff is None:
        raise _forbidden_department()
    department = scope.staff.department
    errors = FieldErrors()
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 500:
        errors.add("purpose", _("State the purpose (at most 500 characters)."))
    if not resource.active:
        errors.add("resource", _("This data resource is out of service."))
    clean_items = _items(items, errors)
    # A string is not a list of keys (list("abc") would make three).
    clean_q, clean_f = _scope_errors(
        resource,
        list(questions) if isinstance(questions, list | tuple) else questions,
        list(fields) if isinstance(fields, list | tuple) else fields,
        errors,
    )
    errors.raise_if_any()
    now = timezone.now()
    with transaction.atomic():
        open_one = Grant.objects.select_for_update().filter(
            resource=resource,
            consumer_node=own_node(),
            consumer_department_key=department.key,
            state__in=(GrantState.REQUESTED, GrantState.APPROVED),
        )
        if any(
            _in_force(g, timezone.localdate(now)) or g.state == GrantState.REQUESTED
            for g in open_one
        ):
            raise Conflict(
                _("Your department already has a request or a grant in force for this resource."),
                code="grant_exists",
            )
        grant = Grant.objects.create(
            uid=uuid.uuid4(),
            resource=resource,
            consumer_node=own_node(),
            consumer_department=department,
            consumer_department_key=department.key,
            consumer_department_name=department.name,
            purpose=purpose.strip(),
            items=clean_items,
            requested_questions=clean_q,
            requested_fields=clean_f,
            state=GrantState.REQUESTED,
            requested_by=_label(actor),
            requested_at=now,
        )
        audit_record(
            actor=actor,
            action="datashare.grant_requested",
            target=grant,
            changes={"resource": resource.ref, "questions": clean_q, "fields": clean_f},
        )
        if resource.node != own_node():
            _send(resource.node, GRANT_REQUESTED, grant)
    return grant


def _items(items: Any, errors: FieldErrors) -> list[str]:
    from tongban.catalog.models import ServiceItem

    if not isinstance(items, list) or not items or len(items) > 200:
        errors.add("items", _("Name the catalogue items (basic codes) the purpose serves."))
        return []
    if not all(isinstance(x, str) for x in items):
        errors.add("items", _("Give the items as a list of basic codes."))
        return []
    codes = sorted(set(items))  # a code named twice is named once
    known = set(ServiceItem.objects.filter(code__in=codes).values_list("code", flat=True))
    if set(codes) - known:
        errors.add(
            "items",
            _("Some of these are not catalogue item codes: %(c)s")
            % {"c": ", ".join(sorted(set(codes) - known)) or "—"},
        )
    return codes


def _in_force(grant: Grant, today: dt.date) -> bool:
    return (
        grant.state == GrantState.APPROVED
        and (grant.valid_from is None or grant.valid_from <= today)
        and (grant.valid_until is None or today <= grant.valid_until)
    )


def _send(recipient: str, type: str, grant: Grant) -> None:
    from tongban.exchange.messaging import message_send

    message_send(recipient=recipient, type=type, subject=str(grant.uid), data=_grant_message(grant))


def _provider_admin(actor: Any, grant: Grant) -> None:
    if grant.resource.node != own_node() or grant.resource.department is None:
        raise ValidationFailed(
            _("This grant is decided at the providing node %(n)s.") % {"n": grant.resource.node},
            code="decided_elsewhere",
        )
    _admin_of(actor, grant.resource.department)


def grant_decide(
    *,
    actor: Any,
    grant: Grant,
    approve: bool,
    questions: Any = None,
    fields: Any = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    rate_limit: int | None = None,
    reason: str = "",
) -> Grant:
    """The provider's department admin approves a request, with a scope within what was asked
    (questions and fields; by default all of it), a validity (until is required) and a rate
    limit (calls per minute), or refuses it with a reason."""
    _provider_admin(actor, grant)
    errors = FieldErrors()
    today = timezone.localdate()
    if not isinstance(reason, str) or len(reason) > 500:
        errors.add("reason", _("At most 500 characters."))
    if approve:
        asked_q = grant.requested_questions if questions is None else questions
        asked_f = grant.requested_fields if fields is None else fields
        clean_q, clean_f = _scope_errors(grant.resource, list(asked_q), list(asked_f), errors)
        if set(clean_q) - set(grant.requested_questions) or set(clean_f) - set(
            grant.requested_fields
        ):
            errors.add("questions", _("Grant only what was asked for."))
        valid_from = valid_from or today
        if valid_until is None:
            errors.add("valid_until", _("Give the last day of validity."))
        elif valid_until < valid_from or valid_until < today:
            errors.add(
                "valid_until", _("The last day must be today or later, and after the first.")
            )
        elif (valid_until - valid_from).days > MAX_GRANT_DAYS:
            errors.add("valid_until", _("A grant is valid for at most five years."))
        if not isinstance(rate_limit, int) or not 1 <= rate_limit <= MAX_RATE:
            errors.add("rate_limit", _("Give the calls allowed per minute (1 to 100000)."))
    elif not isinstance(reason, str) or not reason.strip():
        errors.add("reason", _("Say why the request is refused."))
    errors.raise_if_any()
    with transaction.atomic():
        locked = Grant.objects.select_for_update().select_related("resource").get(pk=grant.pk)
        if locked.state != GrantState.REQUESTED:
            raise Conflict(_("This request has been decided already."), code="stale_state")
        before = _grant_message(locked)
        locked.state = GrantState.APPROVED if approve else GrantState.REFUSED
        if approve:
            locked.questions, locked.fields = clean_q, clean_f
            locked.valid_from, locked.valid_until = valid_from, valid_until
            locked.rate_limit = int(rate_limit or 0)
        locked.decided_by = _label(actor)
        locked.decided_at = timezone.now()
        locked.reason = reason.strip()
        locked.save()
        _grant_changed(actor, locked, before, "datashare.grant_decided")
    return locked


def _grant_changed(actor: Any, grant: Grant, before: dict[str, Any], action: str) -> None:
    after = _grant_message(grant)
    audit_record(
        actor=actor,
        action=action,
        target=grant,
        changes={k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    if grant.consumer_node != own_node():
        _send(grant.consumer_node, GRANT_DECIDED, grant)
    elif grant.resource.node != own_node() and action == "datashare.grant_withdrawn":
        _send(grant.resource.node, GRANT_WITHDRAWN, grant)


def grant_revoke(*, actor: Any, grant: Grant, reason: str) -> Grant:
    """The provider's department admin ends an approved grant before its time (calls under it
    are refused from now on), with a reason."""
    _provider_admin(actor, grant)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ValidationFailed(fields={"reason": _("Say why the grant is revoked.")})
    with transaction.atomic():
        locked = Grant.objects.select_for_update().select_related("resource").get(pk=grant.pk)
        if locked.state != GrantState.APPROVED:
            raise Conflict(_("Only an approved grant can be revoked."), code="stale_state")
        before = _grant_message(locked)
        locked.state = GrantState.REVOKED
        locked.reason = reason.strip()
        locked.decided_by = _label(actor)
        locked.decided_at = timezone.now()
        locked.save()
        _grant_changed(actor, locked, before, "datashare.grant_revoked")
    return locked


def grant_withdraw(*, actor: Any, grant: Grant) -> Grant:
    """The consuming department's admin withdraws its request, or gives up its grant."""
    scope = staff_scope(actor, ADMINS)
    if grant.consumer_node != own_node() or not (
        scope.is_platform_admin
        or (scope.staff is not None and scope.staff.department.key == grant.consumer_department_key)
    ):
        raise _forbidden_department()
    with transaction.atomic():
        locked = Grant.objects.select_for_update().select_related("resource").get(pk=grant.pk)
        if locked.state not in (GrantState.REQUESTED, GrantState.APPROVED):
            raise Conflict(_("This grant is closed already."), code="stale_state")
        before = _grant_message(locked)
        locked.state = GrantState.WITHDRAWN
        locked.save()
        _grant_changed(actor, locked, before, "datashare.grant_withdrawn")
    return locked


# Grants arriving from other nodes -------------------------------------------------------------


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _time(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def on_grant_requested(event: dict[str, Any]) -> None:
    """A consumer on another node asks for one of this node's resources."""
    data = event["data"]
    source = event["source"]
    if data.get("consumer_node") != source:
        raise ValidationFailed(_("A node asks only for its own departments."), code="not_theirs")
    resource = Resource.objects.filter(node=own_node(), key=str(data.get("resource"))).first()
    if resource is None:
        raise ValidationFailed(_("No such data resource is served."), code="unknown_resource")
    grant, created = Grant.objects.get_or_create(
        uid=uuid.UUID(str(data["uid"])),
        defaults={
            "resource": resource,
            "consumer_node": source,
            "consumer_department_key": str(data["consumer_department_key"])[:64],
            "consumer_department_name": str(data["consumer_department_name"])[:128],
            "purpose": str(data["purpose"])[:500],
            "items": [str(x) for x in data.get("items", [])][:200],
            "requested_questions": [
                x for x in data.get("requested_questions", []) if resource.question(str(x))
            ],
            "requested_fields": [
                x for x in data.get("requested_fields", []) if x in resource.field_names()
            ],
            "state": GrantState.REQUESTED,
            "requested_by": str(data.get("requested_by", ""))[:128],
            "requested_at": _time(data.get("requested_at")) or timezone.now(),
        },
    )
    if created:
        audit_record(
            actor=SYSTEM,
            action="datashare.grant_requested",
            target=grant,
            changes={"from_node": source},
        )


def on_grant_decided(event: dict[str, Any]) -> None:
    """The provider decided, revoked or let a grant lapse: this node's copy follows it."""
    data = event["data"]
    grant = Grant.objects.select_related("resource").filter(uid=str(data.get("uid"))).first()
    if grant is None or grant.resource.node != event["source"]:
        raise ValidationFailed(_("No such grant was asked of that node."), code="unknown_grant")
    if grant.resource.node == own_node():
        return  # the provider's own record (one database playing both nodes in tests)
    state = str(data.get("state"))
    if state not in GrantState.values or state == GrantState.WITHDRAWN:
        raise ValidationFailed(_("Not a decision on a grant."), code="invalid_state")
    if grant.state == GrantState.WITHDRAWN:
        # Given up here already: a decision that crossed the withdrawal on the way must not
        # bring it back (the provider applies the withdrawal when it arrives there).
        return
    before = _grant_message(grant)
    grant.state = state
    grant.questions = list(data.get("questions", []))
    grant.fields = list(data.get("fields", []))
    grant.valid_from = _date(data.get("valid_from"))
    grant.valid_until = _date(data.get("valid_until"))
    grant.rate_limit = int(data.get("rate_limit") or 0)
    grant.decided_by = str(data.get("decided_by", ""))[:128]
    grant.decided_at = _time(data.get("decided_at"))
    grant.reason = str(data.get("reason", ""))[:500]
    grant.save()
    audit_record(
        actor=SYSTEM,
        action="datashare.grant_decided",
        target=grant,
        changes={k: [before[k], v] for k, v in _grant_message(grant).items() if before[k] != v},
    )


def on_grant_withdrawn(event: dict[str, Any]) -> None:
    data = event["data"]
    grant = Grant.objects.select_related("resource").filter(uid=str(data.get("uid"))).first()
    if grant is None or grant.consumer_node != event["source"]:
        raise ValidationFailed(_("No such grant was asked by that node."), code="unknown_grant")
    if grant.state in (GrantState.REQUESTED, GrantState.APPROVED):
        grant.state = GrantState.WITHDRAWN
        grant.save(update_fields=["state", "updated_at"])
        audit_record(actor=SYSTEM, action="datashare.grant_withdrawn", target=grant)


# Calls --------------------------------------------------------------------------------------


@dataclass
class Request:
    """One call, as the consumer states it."""

    resource: str  # <node>.<key>
    kind: str
    question: str = ""
    fields: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""
    case_number: str = ""
    uid: uuid.UUID = field(default_factory=uuid.uuid4)
    # The catalogue item (basic code) of the case, filled in by the consumer's node, which
    # holds the case: case numbers mean nothing at the provider's.
    item: str = ""


@dataclass
class Consumer:
    node: str
    department_key: str
    department_name: str
    caller: str


@dataclass
class Answer:
    """What the caller gets: the call's id, and either the yes/no of a verification or the
    records (granted fields only) of a look-up."""

    call: uuid.UUID
    kind: str
    answer: bool | None = None
    records: list[dict[str, Any]] | None = None
    provider: str = ""
    at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"call": str(self.call), "kind": self.kind, "provider": self.provider}
        if self.kind == CallKind.VERIFY:
            out["answer"] = self.answer
        else:
            out["found"] = len(self.records or [])
            out["records"] = self.records or []
        return out


def _checked_request(request: Request, resource: Resource) -> tuple[dict[str, Any], dict[str, str]]:
    """The question (or None for a look-up) and the parameters, checked; Refused
    ``malformed_query`` (400) with the fields at fault otherwise."""

    def bad(name: str, code: str) -> Refused:
        return refusal("malformed_query", fields={name: PARAM_PROBLEMS.get(code, code)})

    if request.kind not in CallKind.values:
        raise bad("kind", "invalid_kind")
    if (
        not isinstance(request.purpose, str)
        or not request.purpose.strip()
        or len(request.purpose) > 500
    ):
        raise refusal("malformed_query", fields={"purpose": _("State the purpose of the call.")})
    if not isinstance(request.case_number, str) or len(request.case_number) > 43:
        raise bad("case", "invalid_param")
    subject = q.subject_param(resource.subject_kind)
    if request.kind == CallKind.VERIFY:
        question = resource.question(str(request.question))
        if question is None:
            raise bad("question", "unknown_question")
    else:
        if not isinstance(request.fields, list) or not request.fields:
            raise bad("fields", "no_fields")
        if not all(isinstance(f, str) and f in resource.field_names() for f in request.fields):
            raise bad("fields", "unknown_field")
        question = {"key": "", "params": [subject], "rule": {"op": "match"}}
    try:
        params = q.check_params(question, request.params, subject_kind=resource.subject_kind)
    except q.QueryError as error:
        raise bad(
            f"params.{error.field}" if error.field != "params" else "params", error.code
        ) from None
    return question, params


def _request_body(request: Request, consumer: Consumer, grant_uid: str) -> dict[str, Any]:
    return {
        "call": str(request.uid),
        "resource": request.resource,
        "kind": request.kind,
        "question": request.question if request.kind == CallKind.VERIFY else "",
        "fields": sorted(request.fields) if request.kind == CallKind.QUERY else [],
        "params": request.params,
        "purpose": request.purpose,
        "case": request.case_number,
        "item": request.item,
        "grant": grant_uid,
        "consumer": {
            "node": consumer.node,
            "department_key": consumer.department_key,
            "department_name": consumer.department_name,
            "caller": consumer.caller,
        },
    }


def _grant_for(resource: Resource, consumer: Consumer) -> Grant | None:
    """The grant that would cover the consumer's call: the one in force if any, else the
    latest (its state says why it does not)."""
    grants = list(
        Grant.objects.filter(
            resource=resource,
            consumer_node=consumer.node,
            consumer_department_key=consumer.department_key,
        ).order_by("-requested_at", "-id")
    )
    today = timezone.localdate()
    return next((g for g in grants if _in_force(g, today)), None) or next(
        (g for g in grants if g.state in (GrantState.APPROVED, GrantState.REVOKED)), None
    )


def _case_item(number: str) -> str | None:
    from tongban.cases.models import Case

    found = Case.objects.filter(number=number).values_list("item__code", flat=True).first()
    return str(found) if found is not None else None


def _refusal_code(grant: Grant | None, request: Request, now: dt.datetime) -> str:
    """Why ``grant`` does not cover ``request`` (checked by ``_checked_request``), or ""."""
    if grant is None:
        return "no_grant"
    if grant.state == GrantState.REVOKED:
        return "grant_revoked"
    today = timezone.localdate(now)
    if grant.valid_from and today < grant.valid_from:
        return "grant_not_in_force"
    if grant.valid_until and today > grant.valid_until:
        return "grant_expired"
    if request.kind == CallKind.VERIFY and request.question not in grant.questions:
        return "question_not_granted"
    if request.kind == CallKind.QUERY and set(request.fields) - set(grant.fields):
        return "field_not_granted"
    if request.purpose.strip() != grant.purpose:
        return "purpose_mismatch"
    if request.item and grant.items and request.item not in grant.items:
        return "purpose_mismatch"
    return ""


def _rate_exceeded(grant: Grant, now: dt.datetime) -> bool:
    used = Call.objects.filter(
        grant=grant,
        side__in=(CallSide.PROVIDER, CallSide.LOCAL),
        outcome=CallOutcome.ANSWERED,
        at__gt=now - dt.timedelta(minutes=1),
    ).count()
    return used >= grant.rate_limit


def _log(
    *,
    request: Request,
    consumer: Consumer,
    side: str,
    resource: Resource | None,
    grant: Grant | None,
    request_hash: str,
    outcome: str,
    code: str = "",
    summary: dict[str, Any] | None = None,
    response_hash: str = "",
    request_token: str = "",
    response_token: str = "",
    started: float | None = None,
) -> Call:
    """Append one entry to the evidence log (chained to the one before it)."""
    from tongban.exchange.messaging import serialise

    node, _dot, key = request.resource.rpartition(".")
    with transaction.atomic():
        serialise("datashare-calls")
        last = Call.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, previous = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
        call = Call(
            uid=request.uid,
            side=side,
            seq=seq,
            provider_node=node or own_node(),
            resource_key=key[:64],
            resource=resource,
            grant=grant,
            kind=request.kind if request.kind in CallKind.values else CallKind.VERIFY,
            question=str(request.question)[:64] if request.kind == CallKind.VERIFY else "",
            fields=[str(f)[:64] for f in request.fields][:100]
            if request.kind == CallKind.QUERY and isinstance(request.fields, list)
            else [],
            consumer_node=consumer.node,
            consumer_department_key=consumer.department_key[:64],
            consumer_department_name=consumer.department_name[:128],
            caller=consumer.caller[:128],
            purpose=str(request.purpose)[:500],
            case_number=str(request.case_number)[:43],
            request_hash=request_hash,
            response_hash=response_hash,
            request_token=request_token,
            response_token=response_token,
            outcome=outcome,
            code=code,
            summary=summary or {},
            latency_ms=int((time.monotonic() - started) * 1000) if started else 0,
            at=timezone.now().replace(microsecond=0),
            prev_hash=previous,
        )
        call.hash = chain.link_hash(previous, call_body(call))
        call.save(force_insert=True)
    _observe(call)
    return call


def call_body(call: Call) -> dict[str, Any]:
    """What the evidence log's hash chain covers of an entry."""
    return {
        "seq": call.seq,
        "uid": str(call.uid),
        "side": call.side,
        "provider_node": call.provider_node,
        "resource": call.resource_key,
        "grant": str(call.grant.uid) if call.grant_id and call.grant else "",
        "kind": call.kind,
        "question": call.question,
        "fields": call.fields,
        "consumer": [call.consumer_node, call.consumer_department_key, call.caller],
        "purpose": call.purpose,
        "case": call.case_number,
        "request_hash": call.request_hash,
        "response_hash": call.response_hash,
        "outcome": call.outcome,
        "code": call.code,
        "summary": call.summary,
        "at": call.at.isoformat(),
    }


def evidence_verify() -> chain.Break | None:
    """The first broken link of this node's data-sharing evidence log, or None."""
    return chain.verify(
        chain.Link(seq=c.seq, prev_hash=c.prev_hash, hash=c.hash, body=call_body(c))
        for c in Call.objects.select_related("grant").order_by("seq").iterator()
    )


def _observe(call: Call) -> None:
    from tongban.datashare import metrics

    metrics.observe_call(call)


def _summary(answer: Answer) -> dict[str, Any]:
    if answer.kind == CallKind.VERIFY:
        return {"answer": answer.answer}
    fields = sorted({name for record in answer.records or [] for name in record})
    return {"found": len(answer.records or []), "fields": fields}


def provider_answer(
    *,
    request: Request,
    consumer: Consumer,
    side: str = CallSide.LOCAL,
    request_token: str = "",
    started: float | None = None,
    seal: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[Call, Answer]:
    """Answer a call at the source: the resource is this node's, the consumer holds a grant in
    force that covers the question or fields, the purpose and the case's item match it, and
    the rate limit is not reached. Every call is logged, refusals too (then Refused is raised
    after the log entry is committed).

    ``seal`` (for a call from another node) signs what goes back — ``{"outcome", "code"}`` or
    ``{"outcome", "answer", "provider"}`` — before the entry is logged, so the entry holds the
    signed answer and its hash, the same the consumer's node logs."""
    started = started or time.monotonic()
    now = timezone.now()
    request_hash = (
        _sha256(request_token)
        if request_token
        else _sha256(_canonical(_request_body(request, consumer, "")))
    )
    node, _dot, key = request.resource.rpartition(".")
    resource = (
        Resource.objects.filter(node=node or own_node(), key=key)
        .select_related("department")
        .first()
    )

    def refuse(code: str, grant: Grant | None = None, error: Refused | None = None) -> Refused:
        error = error or refusal(code)
        signed = seal({"outcome": CallOutcome.REFUSED, "code": error.code}) if seal else ""
        _log(
            request=request,
            consumer=consumer,
            side=side,
            resource=resource,
            grant=grant,
            request_hash=request_hash,
            outcome=CallOutcome.REFUSED,
            code=error.code,
            request_token=request_token,
            response_token=signed,
            response_hash=_sha256(signed) if signed else "",
            started=started,
        )
        return error

    if resource is None or resource.node != own_node():
        raise refuse("unknown_resource")
    if not resource.active:
        raise refuse("resource_inactive")
    try:
        question, params = _checked_request(request, resource)
    except Refused as error:
        raise refuse(error.code, error=error) from None
    grant = _grant_for(resource, consumer)
    with transaction.atomic():
        if grant is not None:
            # Counting the minute's calls under the grant's row lock keeps the limit exact.
            grant = Grant.objects.select_for_update().get(pk=grant.pk)
        code = _refusal_code(grant, request, now)
        if not code and grant is not None and _rate_exceeded(grant, now):
            code = "rate_limited"
        if not code:
            records = _records_about(resource, params[q.subject_param(resource.subject_kind)])
            if request.kind == CallKind.VERIFY:
                answer = Answer(
                    call=request.uid,
                    kind=request.kind,
                    answer=q.answer(question, records, params),
                )
            else:
                answer = Answer(
                    call=request.uid, kind=request.kind, records=q.look_up(records, request.fields)
                )
            answer.provider = resource.department_name
            answer.at = now
            signed = (
                seal(
                    {
                        "outcome": CallOutcome.ANSWERED,
                        "provider": answer.provider,
                        "answer": answer.as_dict(),
                    }
                )
                if seal
                else ""
            )
            call = _log(
                request=request,
                consumer=consumer,
                side=side,
                resource=resource,
                grant=grant,
                request_hash=request_hash,
                outcome=CallOutcome.ANSWERED,
                summary=_summary(answer),
                response_hash=_sha256(signed) if signed else _sha256(_canonical(answer.as_dict())),
                request_token=request_token,
                response_token=signed,
                started=started,
            )
            return call, answer
    raise refuse(code, grant)


def _consumer_of(actor: Any, department: Department | None) -> Consumer:
    """Who calls: a staff member of the consuming department, or (for a case) the node on
    behalf of the case's department."""
    if department is not None:
        return Consumer(own_node(), department.key, department.name, _label(actor))
    scope = staff_scope(actor, CALLERS)
    if scope.staff is None:
        raise ValidationFailed(_("Calls are made by a department's staff."), code="no_department")
    staff = scope.staff
    return Consumer(own_node(), staff.department.key, staff.department.name, _label(actor))


def call_make(
    *, actor: Any, request: Request, department: Department | None = None
) -> tuple[Call, Answer]:
    """Make a call as the actor's department (or ``department``, for a check the node makes
    for a case): answered here when the resource is this node's, else by its node through the
    exchange. Returns the evidence-log entry and the answer; Refused (4xx/5xx) otherwise, after
    logging it."""
    consumer = _consumer_of(actor, department)
    started = time.monotonic()
    resource = Resource.objects.filter(
        node=request.resource.rpartition(".")[0] or own_node(),
        key=request.resource.rpartition(".")[2],
    ).first()
    if resource is not None:
        request.resource = resource.ref
    request.item = (_case_item(request.case_number) or "") if request.case_number else ""
    if request.case_number and not request.item:
        error = refusal("unknown_case", fields={"case": _("There is no such case here.")})
        _log(
            request=request,
            consumer=consumer,
            side=CallSide.LOCAL
            if resource is None or resource.node == own_node()
            else CallSide.CONSUMER,
            resource=resource,
            grant=None,
            request_hash=_sha256(_canonical(_request_body(request, consumer, ""))),
            outcome=CallOutcome.REFUSED,
            code=error.code,
            started=started,
        )
        raise error
    if resource is None or resource.node == own_node():
        if resource is None:
            request.resource = (
                request.resource
                if "." in request.resource
                else (f"{own_node()}.{request.resource}")
            )
        return provider_answer(request=request, consumer=consumer, started=started)
    return _remote_call(request=request, consumer=consumer, resource=resource, started=started)


def _remote_call(
    *, request: Request, consumer: Consumer, resource: Resource, started: float
) -> tuple[Call, Answer]:
    from tongban.exchange import messaging, transport
    from tongban.exchange import services as exchange

    def fail(code: str, *, outcome: str = CallOutcome.FAILED, **kwargs: Any) -> Refused:
        _log(
            request=request,
            consumer=consumer,
            side=CallSide.CONSUMER,
            resource=resource,
            grant=grant,
            request_hash=request_hash,
            outcome=outcome,
            code=code,
            started=started,
            request_token=token,
            **kwargs,
        )
        return refusal(code)

    grant = _grant_for(resource, consumer)
    try:
        _checked_request(request, resource)
    except Refused as error:
        token, request_hash = "", _sha256(_canonical(_request_body(request, consumer, "")))
        fail(error.code, outcome=CallOutcome.REFUSED)
        raise error from None
    body = _request_body(request, consumer, str(grant.uid) if grant else "")
    body["params"] = messaging.encrypt_for_node(resource.node, body["params"])
    now = timezone.now()
    claims = {
        **body,
        "aud": resource.node,
        "jti": str(request.uid),
        "iat": int(now.timestamp()),
        "exp": int((now + CALL_LIFETIME).timestamp()),
    }
    token = messaging.node_token(claims, typ=CALL_TYP, at=now)
    request_hash = _sha256(token)
    if grant is None or grant.state != GrantState.APPROVED:
        # Deny by default, here already: no grant this node knows of, no call leaves.
        raise fail("no_grant" if grant is None else "grant_revoked", outcome=CallOutcome.REFUSED)
    if set(body["params"]) != {"jwe"}:
        # The provider publishes no encryption key: ID numbers and names would travel, and sit
        # in both evidence logs, in clear. Nothing is sent.
        token = ""  # not kept: it holds the parameters in clear
        raise fail("no_encryption_key", outcome=CallOutcome.REFUSED)
    try:
        peer = exchange.trust_list_current().node(resource.node)
    except DomainError:
        peer = None
    if peer is None or not peer.url:
        raise fail("provider_unreachable")
    try:
        status, content = transport.call(
            "POST",
            f"{peer.url.rstrip('/')}/federation/v1/datashare/call",
            token.encode(),
            limit=CATALOGUE_MAX_BYTES,
        )
    except (transport.Unreachable, transport.TooLarge) as error:
        log.warning("datashare.provider_unreachable", node=resource.node, error=str(error))
        raise fail("provider_unreachable") from None
    if status != 200:
        log.warning("datashare.provider_refused_token", node=resource.node, status=status)
        raise fail("bad_answer")
    answer_token = content.decode("ascii", "replace").strip()
    try:
        claims = messaging.node_token_claims(answer_token, typ=ANSWER_TYP)
    except (messaging.BadNodeToken, messaging.Untrusted):
        raise fail("bad_answer") from None
    if (
        claims.get("iss") != resource.node
        or claims.get("aud") != own_node()
        or claims.get("call") != str(request.uid)
        or claims.get("request_hash") != request_hash
    ):
        raise fail("bad_answer")
    response_hash = _sha256(answer_token)
    if claims.get("outcome") != CallOutcome.ANSWERED:
        code = str(claims.get("code") or "refused")
        _log(
            request=request,
            consumer=consumer,
            side=CallSide.CONSUMER,
            resource=resource,
            grant=grant,
            request_hash=request_hash,
            outcome=CallOutcome.REFUSED,
            code=code[:64],
            request_token=token,
            response_token=answer_token,
            response_hash=response_hash,
            started=started,
        )
        raise refusal(code)
    try:
        data = messaging.readable({"data": claims.get("answer")})["data"]
        answer = Answer(
            call=request.uid,
            kind=request.kind,
            answer=bool(data["answer"]) if request.kind == CallKind.VERIFY else None,
            records=[dict(r) for r in data["records"]] if request.kind == CallKind.QUERY else None,
            provider=str(claims.get("provider", resource.department_name)),
            at=timezone.now(),
        )
    except (DomainError, KeyError, TypeError, ValueError):
        raise fail("bad_answer") from None
    if answer.records is not None and any(set(r) - set(request.fields) for r in answer.records):
        raise fail("bad_answer")  # more than was asked: not taken
    call = _log(
        request=request,
        consumer=consumer,
        side=CallSide.CONSUMER,
        resource=resource,
        grant=grant,
        request_hash=request_hash,
        outcome=CallOutcome.ANSWERED,
        summary=_summary(answer),
        request_token=token,
        response_token=answer_token,
        response_hash=response_hash,
        started=started,
    )
    return call, answer


def call_receive(*, token: str) -> str:
    """A call from another node (the federation endpoint): verify its signature, audience and
    time, answer it (``provider_answer``) and return the signed answer, refusals included.
    DomainError (a 4xx without a signed answer) when the token cannot be trusted at all."""
    from tongban.exchange import messaging

    try:
        claims = messaging.node_token_claims(token, typ=CALL_TYP)
    except messaging.BadNodeToken as error:
        raise ValidationFailed(
            _("This is not a signed data-sharing call."), code=error.reason
        ) from None
    now = timezone.now()
    raw_consumer = claims.get("consumer")
    consumer_claims: dict[str, Any] = raw_consumer if isinstance(raw_consumer, dict) else {}
    if claims.get("aud") != own_node():
        raise ValidationFailed(_("This call is for another node."), code="wrong_recipient")
    if consumer_claims.get("node") != claims["iss"]:
        raise ValidationFailed(_("A node calls only for its own departments."), code="not_theirs")
    try:
        expires = int(claims["exp"])
        issued = int(claims["iat"])
        uid = uuid.UUID(str(claims["jti"]))
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed(
            _("This is not a signed data-sharing call."), code="malformed"
        ) from None
    if not issued - 60 <= now.timestamp() <= expires:
        raise ValidationFailed(_("This call has expired."), code="expired")
    try:
        params = messaging.readable({"data": claims.get("params")})["data"]
    except DomainError:
        params = None
    request = Request(
        resource=f"{own_node()}.{str(claims.get('resource', '')).rpartition('.')[2]}",
        kind=str(claims.get("kind", "")),
        question=str(claims.get("question", "")),
        fields=[str(f) for f in claims.get("fields") or [] if isinstance(f, str)],
        params=params if isinstance(params, dict) else {},
        purpose=str(claims.get("purpose", "")),
        case_number=str(claims.get("case", "")),
        uid=uid,
        item=str(claims.get("item") or "")[:12],
    )
    consumer = Consumer(
        node=claims["iss"],
        department_key=str(consumer_claims.get("department_key", ""))[:64],
        department_name=str(consumer_claims.get("department_name", ""))[:128],
        caller=str(consumer_claims.get("caller", ""))[:128],
    )
    if Call.objects.filter(uid=uid, side=CallSide.PROVIDER).exists():
        raise Conflict(_("This call was made before."), code="replayed")
    base: dict[str, Any] = {
        "aud": consumer.node,
        "call": str(uid),
        "request_hash": _sha256(token),
        "iat": int(now.timestamp()),
    }

    def seal(what: dict[str, Any]) -> str:
        # The records only the consumer's node can read (encrypted to its key).
        if "answer" in what:
            what = what | {"answer": messaging.encrypt_for_node(consumer.node, what["answer"])}
        return messaging.node_token(base | what, typ=ANSWER_TYP)

    try:
        call, _answer = provider_answer(
            request=request,
            consumer=consumer,
            side=CallSide.PROVIDER,
            request_token=token,
            seal=seal,
        )
    except Refused:
        # Logged with its signed refusal, which goes back as the answer.
        call = Call.objects.get(uid=uid, side=CallSide.PROVIDER)
    except IntegrityError:
        raise Conflict(_("This call was made before."), code="replayed") from None
    return call.response_token


# Disputes -----------------------------------------------------------------------------------


def _dispute_message(dispute: Dispute) -> dict[str, Any]:
    return {
        "uid": str(dispute.uid),
        "call": str(dispute.call.uid),
        "kind": dispute.kind,
        "reason": dispute.reason,
        "raised_by": dispute.raised_by,
        "raised_node": dispute.raised_node,
        "raised_department_name": dispute.raised_department_name,
        "raised_at": dispute.raised_at.isoformat(),
        "state": dispute.state,
        "outcome": dispute.outcome,
        "resolved_by": dispute.resolved_by,
        "resolved_at": dispute.resolved_at.isoformat() if dispute.resolved_at else None,
    }


def dispute_raise(*, actor: Any, call: Call, kind: str, reason: str) -> Dispute:
    """Raise a dispute on a call: the consumer's staff on an answer or a refusal (wrong, stale,
    refused without reason), the provider's department admin on a call that does not fit its
    purpose (misuse). One open dispute of a kind per call."""
    scope = staff_scope(actor, CALLERS)
    department_key = scope.staff.department.key if scope.staff is not None else ""
    errors = FieldErrors()
    if kind not in DisputeKind.values:
        errors.add("kind", _("Choose what is wrong."))
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
        errors.add("reason", _("Say what is wrong (at most 1000 characters)."))
    errors.raise_if_any()
    consumer_side = call.side in (CallSide.CONSUMER, CallSide.LOCAL)
    provider_side = call.side in (CallSide.PROVIDER, CallSide.LOCAL)
    if kind == DisputeKind.MISUSE:
        resource = call.resource
        allowed = (
            provider_side
            and resource is not None
            and resource.department is not None
            and (
                scope.covers_department(resource.department)
                and (scope.is_platform_admin or StaffRole.DEPARTMENT_ADMIN in scope.roles)
            )
        )
    else:
        allowed = consumer_side and (
            scope.is_platform_admin or department_key == call.consumer_department_key
        )
    if not allowed:
        from tongban.core.errors import Forbidden

        raise Forbidden(
            _(
                "Only the department that made the call (or, for misuse, the one "
                "that answered it) may raise a dispute on it."
            )
        )
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if Dispute.objects.filter(call=locked, kind=kind, state=DisputeState.OPEN).exists():
            raise Conflict(_("A dispute of this kind is open on this call."), code="dispute_open")
        dispute = Dispute.objects.create(
            uid=uuid.uuid4(),
            side=locked.side,
            call=locked,
            kind=kind,
            reason=reason.strip(),
            raised_by=_label(actor),
            raised_node=own_node(),
            raised_department_name=scope.staff.department.name if scope.staff else "",
            raised_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="datashare.dispute_raised",
            target=dispute,
            changes={"call": str(locked.uid), "kind": kind},
        )
        if locked.side == CallSide.CONSUMER:
            from tongban.exchange.messaging import message_send

            message_send(
                recipient=locked.provider_node,
                type=DISPUTE_RAISED,
                subject=str(dispute.uid),
                data=_dispute_message(dispute),
            )
    return dispute


def dispute_resolve(*, actor: Any, dispute: Dispute, upheld: bool, outcome: str) -> Dispute:
    """Decide a dispute with a recorded outcome: at the node that answered the call, by the
    providing department's admin (not for misuse, which is the supervisor's) or a supervisor."""
    scope = staff_scope(actor, RESOLVERS)
    call = dispute.call
    if (
        dispute.side == CallSide.CONSUMER
        or call.resource is None
        or call.resource.node != own_node()
    ):
        raise ValidationFailed(
            _("A dispute is resolved at the node that answered the call."),
            code="resolved_elsewhere",
        )
    department = call.resource.department
    is_supervisor = scope.is_platform_admin or StaffRole.SUPERVISOR in scope.roles
    is_provider_admin = (
        department is not None
        and StaffRole.DEPARTMENT_ADMIN in scope.roles
        and scope.covers_department(department)
    )
    if not (is_supervisor or (is_provider_admin and dispute.kind != DisputeKind.MISUSE)):
        from tongban.core.errors import Forbidden

        raise Forbidden(_("Only the providing department's admin or a supervisor may resolve it."))
    if not isinstance(outcome, str) or not outcome.strip() or len(outcome) > 1000:
        raise ValidationFailed(
            fields={"outcome": _("Record the outcome (at most 1000 characters).")}
        )
    with transaction.atomic():
        locked = Dispute.objects.select_for_update().select_related("call").get(pk=dispute.pk)
        if locked.state != DisputeState.OPEN:
            raise Conflict(_("This dispute has been resolved already."), code="stale_state")
        locked.state = DisputeState.UPHELD if upheld else DisputeState.DISMISSED
        locked.outcome = outcome.strip()
        locked.resolved_by = _label(actor)
        locked.resolved_at = timezone.now()
        locked.save()
        audit_record(
            actor=actor,
            action="datashare.dispute_resolved",
            target=locked,
            changes={"state": [DisputeState.OPEN, locked.state], "outcome": locked.outcome},
        )
        if locked.side == CallSide.PROVIDER and locked.raised_node != own_node():
            from tongban.exchange.messaging import message_send

            message_send(
                recipient=locked.raised_node,
                type=DISPUTE_RESOLVED,
                subject=str(locked.uid),
                data=_dispute_message(locked),
            )
    return locked


def on_dispute_raised(event: dict[str, Any]) -> None:
    data = event["data"]
    call = Call.objects.filter(uid=str(data.get("call")), side=CallSide.PROVIDER).first()
    if call is None or call.consumer_node != event["source"]:
        raise ValidationFailed(_("No such call was answered for that node."), code="unknown_call")
    kind = str(data.get("kind"))
    if kind not in DisputeKind.values or kind == DisputeKind.MISUSE:
        raise ValidationFailed(_("Not a dispute a consumer raises."), code="invalid_kind")
    dispute, created = Dispute.objects.get_or_create(
        uid=uuid.UUID(str(data["uid"])),
        side=CallSide.PROVIDER,
        defaults={
            "call": call,
            "kind": kind,
            "reason": str(data.get("reason", ""))[:1000],
            "raised_by": str(data.get("raised_by", ""))[:128],
            "raised_node": event["source"],
            "raised_department_name": str(data.get("raised_department_name", ""))[:128],
            "raised_at": _time(data.get("raised_at")) or timezone.now(),
        },
    )
    if created:
        audit_record(
            actor=SYSTEM,
            action="datashare.dispute_raised",
            target=dispute,
            changes={"from_node": event["source"], "call": str(call.uid)},
        )


def on_dispute_resolved(event: dict[str, Any]) -> None:
    data = event["data"]
    dispute = (
        Dispute.objects.select_related("call")
        .filter(uid=str(data.get("uid")), side=CallSide.CONSUMER)
        .first()
    )
    if dispute is None or dispute.call.provider_node != event["source"]:
        raise ValidationFailed(
            _("No such dispute was raised with that node."), code="unknown_dispute"
        )
    if dispute.state != DisputeState.OPEN:
        return
    state = str(data.get("state"))
    if state not in (DisputeState.UPHELD, DisputeState.DISMISSED):
        raise ValidationFailed(_("A resolution upholds or dismisses."), code="invalid_state")
    dispute.state = state
    dispute.outcome = str(data.get("outcome", ""))[:1000]
    dispute.resolved_by = str(data.get("resolved_by", ""))[:128]
    dispute.resolved_at = _time(data.get("resolved_at")) or timezone.now()
    dispute.save()
    audit_record(
        actor=SYSTEM,
        action="datashare.dispute_resolved",
        target=dispute,
        changes={"state": [DisputeState.OPEN, state]},
    )


# The catalogue across nodes ---------------------------------------------------------------------


def _resource_entry(resource: Resource) -> dict[str, Any]:
    return {
        "key": resource.key,
        "name": resource.name,
        "description": resource.description,
        "department": resource.department_name,
        "subject_kind": resource.subject_kind,
        "sensitivity": resource.sensitivity,
        "fields": resource.fields,
        "questions": resource.questions,
        "update_hours": resource.update_hours,
        "active": resource.active,
        "updated_at": resource.updated_at.isoformat(),
    }


def catalogue_document() -> str:
    """This node's resource catalogue (no source data), signed with its exchange key, for its
    peers (``catalogue_sync``)."""
    from tongban.exchange.messaging import node_token

    resources = Resource.objects.filter(node=own_node()).order_by("key")
    return node_token(
        {
            "node": own_node(),
            "issued_at": timezone.now().isoformat(),
            "resources": [_resource_entry(r) for r in resources],
        },
        typ=CATALOGUE_TYP,
    )


def catalogue_accept(*, node: str, token: str) -> int:
    """Take a peer's signed catalogue: its resources are mirrored here (an entry it no longer
    lists is marked out of service). Returns how many entries it holds."""
    from tongban.exchange.messaging import node_token_claims

    claims = node_token_claims(token, typ=CATALOGUE_TYP)
    if claims.get("iss") != node or claims.get("node") != node or node == own_node():
        raise ValidationFailed(_("This catalogue is not that node's."), code="not_theirs")
    entries = claims.get("resources")
    if not isinstance(entries, list):
        raise ValidationFailed(_("The catalogue is malformed."), code="malformed")
    now = timezone.now()
    seen = []
    with transaction.atomic():
        for entry in entries:
            try:
                key = str(entry["key"])
                if not _slug(key):
                    raise ValueError(key)
                clean_fields, clean_questions = q.check_definition(
                    subject_kind=str(entry["subject_kind"]),
                    fields=entry["fields"],
                    questions=entry["questions"],
                )
                values = {
                    "name": str(entry["name"])[:128],
                    "description": str(entry.get("description", ""))[:2000],
                    "department": None,
                    "department_name": str(entry["department"])[:128],
                    "subject_kind": SubjectKind(entry["subject_kind"]),
                    "sensitivity": Sensitivity(entry["sensitivity"]),
                    "fields": clean_fields,
                    "questions": clean_questions,
                    "update_hours": int(entry.get("update_hours", 24)),
                    "active": bool(entry.get("active", True)),
                    "updated_at": _time(entry.get("updated_at")) or now,
                    "fetched_at": now,
                }
            except (KeyError, TypeError, ValueError, q.QueryError) as error:
                log.warning("datashare.catalogue_entry_refused", node=node, error=str(error))
                continue
            Resource.objects.update_or_create(node=node, key=key, defaults=values)
            seen.append(key)
        Resource.objects.filter(node=node).exclude(key__in=seen).update(
            active=False, fetched_at=now
        )
    return len(seen)


def catalogue_sync(*, force: bool = False) -> int:
    """Fetch every peer's resource catalogue (each at most every CATALOGUE_REFRESH unless
    ``force``); run by `tongban exchange tick`. A peer that cannot be reached keeps what this
    node holds of it."""
    from tongban.exchange import services as exchange
    from tongban.exchange import transport

    try:
        listed = exchange.trust_list_current()
    except DomainError:
        return 0
    now = timezone.now()
    done = 0
    for peer in listed.nodes:
        if peer.code in (own_node(), listed.issuer) or not peer.url:
            continue
        last = (
            Resource.objects.filter(node=peer.code, fetched_at__isnull=False)
            .order_by("-fetched_at")
            .values_list("fetched_at", flat=True)
            .first()
        )
        if last and not force and now - last < CATALOGUE_REFRESH:
            continue
        try:
            status, body = transport.call(
                "GET",
                f"{peer.url.rstrip('/')}/federation/v1/datashare/catalogue",
                limit=CATALOGUE_MAX_BYTES,
            )
            if status != 200:
                raise ValueError(f"{peer.code} answered {status}")
            done += catalogue_accept(node=peer.code, token=body.decode("ascii", "replace").strip())
        except (transport.Unreachable, transport.TooLarge, ValueError, DomainError) as error:
            log.warning("datashare.catalogue_sync_failed", node=peer.code, error=str(error))
    return done
