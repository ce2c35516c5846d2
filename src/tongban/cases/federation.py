"""One case, two provinces: the case domain on the exchange between nodes.

The node of the deciding department (the *authority*) keeps the authoritative case. Every other
node that takes part keeps a *mirror*: the node that received the case (a window's PROXY case,
an ONLINE application filed on another province's portal) and the nodes of a JOINT case's legs.

- ``case.handed_over``: the whole case (form, applicant, materials as handles, legs, history)
  from the node that has it to a node that needs a copy: receiving → authority when a PROXY
  case is forwarded or an ONLINE case submitted; authority → leg nodes of a JOINT case.
- ``case.updated``: authority → mirrors, for every link appended to the authoritative chain:
  that link, and the case's state, clock and legs. Mirrors change only through these.
- ``case.action_requested``: mirror → authority, for what is done on the mirror by whom it
  belongs to there: the applicant's supplement or withdrawal, a leg's department finishing or
  refusing its leg. The authority checks and applies it (or records why not), and the
  ``case.updated`` that follows brings the result back.
- ``case.material_added``: mirror → authority, a file handed in on the mirror (its handle);
  the authority fetches the file with a signed request (exchange/blobs.py), checks its hash and
  scans it. An electronic licence or a data-sharing check handed in instead of a file is
  recorded as the mirror verified it (there is nothing to fetch).

Each node numbers its own copy (numbers are per node: two nodes never draw from one counter);
``Case.uid`` is the case on every node, the subject of its events, and ``remote_number`` the
number at the other end. Personal values travel inside the event data, which the exchange
encrypts to the recipient's key (exchange/messaging.py), and are stored encrypted with the
receiving node's own keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.cases import files, legs, scanning, workflow
from tongban.cases.models import (
    Case,
    CaseEvent,
    CaseLeg,
    CasePause,
    LegState,
    Material,
    MaterialSource,
    PauseKind,
)
from tongban.cases.personal import protect, reveal
from tongban.catalog.forms import form_errors
from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from tongban.core.logging import get_logger
from tongban.core.text import has_forbidden_characters
from tongban.regions.codes import province_of

log = get_logger(__name__)

PREFIX = "cn.tongban.case."
HANDED_OVER = PREFIX + "handed_over"
UPDATED = PREFIX + "updated"
ACTION_REQUESTED = PREFIX + "action_requested"
MATERIAL_ADDED = PREFIX + "material_added"
BLOB_KIND = "case-material"
# Details of a link that never travel: leg results go with the legs, decrypted and
# re-encrypted for the other node; a link's copy carries the rest.
_LOCAL_ONLY = frozenset({"result"})


class CaseNotHere(DomainError):
    """An event names a case this node does not hold (or holds in the other role)."""

    status = 409
    code = "case_not_here"


def own_node() -> str:
    return str(settings.TONGBAN_NODE_CODE)


def federated() -> bool:
    """Whether this node works with others (a hub is configured). A node on its own is one
    platform for every province: it decides all its cases itself."""
    return bool(getattr(settings, "TONGBAN_HUB_URL", ""))


def node_of(division: str) -> str:
    """The node that serves a division: its province's, or this one when on its own."""
    return province_of(division) if federated() else own_node()


def is_mirror(case: Case) -> bool:
    return bool(case.authority_node)


def check_reachable(node: str, *, field: str) -> None:
    """ValidationFailed unless ``node`` is on the trust list in force (nothing can be handed
    to a node this one cannot reach)."""
    from tongban.exchange import services as exchange

    try:
        listed = exchange.trust_list_current().node(node)
    except DomainError:
        listed = None
    if listed is None:  # listed without a URL: reached through the hub's relay
        raise ValidationFailed(
            fields={
                field: _(
                    "This place is served by node %(node)s, which this platform cannot reach "
                    "(it is not on the trust list in force)."
                )
                % {"node": node}
            }
        )


def _send(case: Case, *, to: str, type: str, data: dict[str, Any]) -> None:
    from tongban.exchange.messaging import message_send

    message_send(recipient=to, type=type, subject=str(case.uid), data=data)


# What travels -------------------------------------------------------------------------------


def _leg_schema(case: Case, key: str) -> dict[str, Any]:
    plan = legs.plan_for_item(case.item.name)
    step = next((s for s in plan.legs if s.key == key), None) if plan else None
    return dict(step.schema) if step is not None else {}


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _status(case: Case) -> dict[str, Any]:
    """What a mirror keeps in step: state, clock, pauses and legs (results in clear)."""
    return {
        "number": case.number,
        "state": case.state,
        "accepted_on": _day(case.accepted_on),
        "originals_received_on": _day(case.originals_received_on),
        "decided_at": _time(case.decided_at),
        "approved_on": _day(case.approved_on),
        "closed_at": _time(case.closed_at),
        "promised_days": case.promised_days,
        "legal_days": case.legal_days,
        "extension_days": case.extension_days,
        "pauses": [
            {
                "kind": pause.kind,
                "reason": pause.reason,
                "started_on": _day(pause.started_on),
                "ended_on": _day(pause.ended_on),
            }
            for pause in case.pauses.order_by("started_on", "id")
        ],
        "legs": [
            {
                "seq": leg.seq,
                "state": leg.state,
                "output": reveal(_leg_schema(case, leg.key), leg.output, masked=False),
                "started_at": _time(leg.started_at),
                "finished_at": _time(leg.finished_at),
            }
            for leg in case.legs.order_by("seq")
        ],
    }


def _link(event: CaseEvent, *, node: str | None = None) -> dict[str, Any]:
    label = (
        event.actor_label
        if "@" in event.actor_label
        else f"{event.actor_label}@{node or own_node()}"
    )
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": label,
        "role": event.role,
        "action": event.action,
        "from": event.from_state,
        "to": event.to_state,
        "payload": {k: v for k, v in event.payload.items() if k not in _LOCAL_ONLY},
    }


def _materials(case: Case) -> list[dict[str, Any]]:
    rows = []
    for material in case.materials.select_related("spec").order_by("id"):
        if not material.ref:
            material.ref = uuid.uuid4().hex
            material.save(update_fields=["ref"])
        rows.append(_material(material))
    return rows


def _material(material: Material) -> dict[str, Any]:
    return {
        "ref": material.ref,
        "spec": material.spec.key,
        "source": material.source,
        "name": material.original_name,
        "content_type": material.content_type,
        "size": material.size,
        "sha256": material.sha256,
        "reference": material.reference,
        "license_name": material.license_name,
        "license_number": material.license_number,
        "license_issuer": material.license_issuer,
        "check_question": material.check_question,
        "check_provider": material.check_provider,
        "check_node": material.check_node,
        "verified_at": _time(material.verified_at),
        "original_to_post": material.original_to_post,
        # A file this node itself has only as a handle is asked for where it really is.
        "node": material.remote_node or own_node(),
    }


def _applicant(case: Case) -> dict[str, Any]:
    person = case.applicant_person or case.agent
    if person is None:
        raise ValidationFailed(_("Cases of enterprises cannot yet be handed to another node."))
    return {"name": person.name, "id_number": person.id_number, "phone": person.phone}


def hand_over(case: Case, *, to: str) -> None:
    """Send the whole case to node ``to`` (in the caller's transaction) and remember that it
    holds a copy from now on."""
    window = case.receiving_window
    data = {
        "uid": str(case.uid),
        "number": case.number,
        "query_code": case.query_code,
        "item": case.item.code,
        "scenario": case.scenario.key,
        "mode": case.mode,
        "workflow": case.workflow,
        "authority_division": case.authority_division_id,
        "authority_department": case.authority_department.key,
        "authority_node": case.authority_node or own_node(),
        "receiving_division": case.receiving_division_id,
        "receiving_node": case.receiving_node or own_node(),
        "receiving_window": window.name if window is not None else "",
        "received_by": case.received_by.name if case.received_by_id and case.received_by else "",
        "submitted_at": _time(case.submitted_at),
        "received_on": _day(case.received_on),
        "applicant": _applicant(case),
        "form_data": reveal(case.scenario.form_schema, case.form_data, masked=False),
        "materials": _materials(case),
        # A JOINT case's two places; the other node lays out the legs from its own plan.
        "places": {leg.place: leg.division_id for leg in case.legs.order_by("seq")},
        "history": [_link(event) for event in case.events.order_by("seq")],
        **_status(case),
    }
    _send(case, to=to, type=HANDED_OVER, data=data)
    if to not in case.peers and to != case.authority_node:
        case.peers = [*case.peers, to]
        Case.objects.filter(pk=case.pk).update(peers=case.peers)


def tell_peers(case: Case, event: CaseEvent) -> None:
    """After a link is appended to an authoritative case: tell every node holding a mirror."""
    if is_mirror(case) or not case.peers:
        return
    data = {"uid": str(case.uid), "link": _link(event), **_status(case)}
    for peer in case.peers:
        _send(case, to=peer, type=UPDATED, data=data)


def request_action(
    case: Case, *, action: str, payload: dict[str, Any], actor: Any, role: str, leg: CaseLeg | None
) -> None:
    """From a mirror: ask the authority to take ``action`` (already checked here)."""
    details = dict(payload)
    if leg is not None and isinstance(details.get("result"), dict):
        details["result"] = dict(details["result"])  # in clear: the authority encrypts it
    _send(
        case,
        to=case.authority_node,
        type=ACTION_REQUESTED,
        data={
            "uid": str(case.uid),
            "action": action,
            "payload": details,
            "actor": f"{actor.get_username()}@{own_node()}",
            "role": role,
            "leg": leg.key if leg is not None else None,
        },
    )


def material_added(case: Case, material: Material, *, role: str) -> None:
    """From a mirror: a file was handed in here; the authority fetches it."""
    uploader = material.uploaded_by.get_username() if material.uploaded_by else "system"
    _send(
        case,
        to=case.authority_node,
        type=MATERIAL_ADDED,
        data={
            "uid": str(case.uid),
            "material": _material(material),
            "actor": f"{uploader}@{own_node()}",
            "role": role,
        },
    )


# What arrives -------------------------------------------------------------------------------
#
# The sender is authenticated (its signature, by the inbox), but it is only believed about what
# is its own: the receiving node about the application it took in, the deciding node about the
# case it decides. Everything else is recomputed here from this node's catalogue and leg plans.
# What cannot be right is refused (Malformed, NotFound, Forbidden, CaseNotHere: 4xx, which the
# inbox records as rejected and reports to the sender) and nothing of it is written.


class Malformed(ValidationFailed):
    code = "malformed_case_event"


_REF = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NODE = re.compile(r"[0-9]{6}")
# What the receiving node did before the hand-over, as the deciding node records it.
_RECEIVED_ACTIONS = frozenset({"submit", "attach", "forward"})
_RECEIVED_ROLES = frozenset({"applicant", "window_clerk"})


def _str(data: Any, name: str, limit: int = 255, *, required: bool = True) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or value == "":
        if required:
            raise Malformed(fields={name: _("This field is required.")})
        return ""
    if not isinstance(value, str) or len(value) > limit or has_forbidden_characters(value):
        raise Malformed(fields={name: _("Expected a short text.")})
    return value


def _obj(data: Any, name: str) -> dict[str, Any]:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(fields={name: _("Expected an object.")})
    return value


def _rows(data: Any, name: str, limit: int = 200) -> list[dict[str, Any]]:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(isinstance(row, dict) for row in value)
    ):
        raise Malformed(fields={name: _("Expected a list of objects.")})
    return value


def _int(data: Any, name: str, low: int, high: int, *, required: bool = False) -> int | None:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Malformed(fields={name: _("Expected a whole number.")})
    return value


def _parse_time(data: Any, name: str) -> dt.datetime | None:
    value = _str(data, name, 40, required=False)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(fields={name: _("Expected a time.")}) from None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


def _parse_day(data: Any, name: str) -> dt.date | None:
    value = _str(data, name, 10, required=False)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Malformed(fields={name: _("Expected a date.")}) from None


def _uid(event: dict[str, Any]) -> uuid.UUID:
    """The case an event is about: ``data.uid``, which must be the event's subject (the
    inbox keeps order per subject)."""
    raw = _str(event["data"], "uid", 36)
    try:
        uid = uuid.UUID(raw)
    except ValueError:
        raise Malformed(fields={"uid": _("Expected a UUID.")}) from None
    if str(uid) != event.get("subject"):
        raise Malformed(fields={"uid": _("The case is not the event's subject.")})
    return uid


def _case_by_uid(event: dict[str, Any]) -> Case:
    uid = _uid(event)
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("item", "scenario", "implementation")
        .filter(uid=uid)
        .first()
    )
    if case is None:
        raise CaseNotHere(_("This node holds no copy of case %(uid)s.") % {"uid": uid})
    return case


def on_handed_over(event: dict[str, Any]) -> None:
    """Create this node's copy: the authoritative case when this node decides it (sent by the
    node that received it), else a mirror (sent by the deciding node to a node of one of the
    case's legs)."""
    from tongban.accounts.services import person_for_case_from_node
    from tongban.catalog.models import Implementation, ServiceItem
    from tongban.catalog.selectors import version_current
    from tongban.regions.models import Division

    data, source = event["data"], event["source"]
    uid = _uid(event)
    if Case.objects.filter(uid=uid).exists():
        return  # already here (handed over twice): nothing to add
    authority = _str(data, "authority_node", 6)
    mirror = authority != own_node()
    if mirror and authority != source:
        raise Forbidden(_("Only the deciding node hands over a copy of its case."))
    item = ServiceItem.objects.filter(
        version=version_current(), code=_str(data, "item", 32)
    ).first()
    if item is None:
        raise NotFound(_("The item of this case is not in this node's catalogue."))
    scenario = item.scenarios.filter(key=_str(data, "scenario", 64)).first()
    implementation = (
        Implementation.objects.filter(item=item, division_id=_str(data, "authority_division", 12))
        .select_related("department", "division")
        .first()
    )
    if scenario is None or implementation is None or implementation.department is None:
        raise NotFound(_("The situation or implementation of this case is unknown here."))
    if node_of(implementation.division_id) != authority:
        raise Forbidden(_("The deciding node named does not serve the deciding department."))
    mode = _str(data, "mode", 8)
    allowed = {"ONLINE": item.online, "PROXY": item.proxy, "JOINT": item.joint}
    if not allowed.get(mode):
        raise Malformed(fields={"mode": _("This item is not handled in this mode.")})
    flow = workflow.load(workflow.name_for(item.workflow, mode))
    if _str(data, "workflow", 64) != flow.name:
        raise Malformed(fields={"workflow": _("Not this item's workflow for this mode.")})
    state = _str(data, "state", 32)
    if state not in flow.states or (not mirror and state != "submitted"):
        raise Malformed(fields={"state": _("A case is handed over once submitted.")})
    receiving = _str(data, "receiving_division", 12)
    if not Division.objects.filter(code=receiving).exists():
        raise Malformed(fields={"receiving_division": _("Unknown division code.")})
    receiving_node = _str(data, "receiving_node", 6)
    if not mirror and (receiving_node != source or node_of(receiving) != source):
        raise Forbidden(_("A node hands over only the cases it received itself."))
    places = _leg_places(item, implementation, _obj(data, "places")) if mode == "JOINT" else {}
    if mirror and own_node() not in {node_of(division) for division, _impl in places.values()}:
        raise Forbidden(_("This node has no part in this case."))
    query_code = _str(data, "query_code", 12)
    if not query_code.isalnum():
        raise Malformed(fields={"query_code": _("Expected a short text.")})
    applicant = _obj(data, "applicant")
    person = person_for_case_from_node(
        node=source,
        name=_str(applicant, "name", 64),
        id_number=_str(applicant, "id_number", 18),
        phone=_str(applicant, "phone", 20, required=False),
    )
    form = _obj(data, "form_data")
    problems = form_errors(scenario.form_schema, form)
    if problems:
        raise Malformed(fields={f"form_data.{k}": v for k, v in problems.items()})
    number = _str(data, "number", 43)
    case = Case.objects.create(
        uid=uid,
        # Each node numbers its own copy (the deciding node's number travels as the other).
        number=services().next_number(implementation, item, timezone.localdate(), receipt=mirror),
        query_code=query_code,
        item=item,
        scenario=scenario,
        implementation=implementation,
        mode=mode,
        workflow=flow.name,
        state=state,
        applicant_person=person,
        form_data=protect(scenario.form_schema, form),
        receiving_division_id=receiving,
        authority_division=implementation.division,
        authority_department=implementation.department,
        submitted_at=_parse_time(data, "submitted_at"),
        received_on=_parse_day(data, "received_on"),
        authority_node=authority if mirror else "",
        receiving_node="" if mirror else source,
        remote_number=number,
        peers=[] if mirror else [source],
    )
    if places:
        plan = legs.plan_for_item(item.name)
        assert plan is not None  # _leg_places checked it
        services()._plan_legs(case, plan, places)
    for row in _rows(data, "materials"):
        _material_from(case, row, source)
    for link in _rows(data, "history", 1000):
        _append_copy(case, link, source, received=not mirror)
    _apply_status(case, data)
    if mirror:
        return
    # The authoritative copy: say so in its chain (the receiving node learns our number), and
    # hand the case to the other nodes of its legs.
    services().append_event(
        case,
        actor=SYSTEM,
        role="system",
        action="handover_received",
        from_state=case.state,
        to_state=case.state,
        payload={"from_node": source, "number": case.number},
    )
    leg_nodes = {node_of(leg.division_id) for leg in case.legs.all()}
    for node in sorted(leg_nodes - {own_node(), source}):
        hand_over(case, to=node)
    transaction.on_commit(schedule_fetch)


def services() -> Any:
    from tongban.cases import services as case_services

    return case_services


def _leg_places(
    item: Any, implementation: Any, given: dict[str, Any]
) -> dict[str, tuple[str, Any]]:
    """A JOINT case's places, recomputed from this node's catalogue and leg plan exactly as
    at submission (the sender names only the two divisions)."""
    from tongban.core.errors import FieldErrors

    if legs.plan_for_item(item.name) is None:
        raise NotFound(_("No joint procedure is defined for this item here."))
    errors = FieldErrors()
    places: dict[str, tuple[str, Any]] = {}
    found = services()._joint_places(
        item,
        _str(given, "destination", 12),
        _str(given, "origin", 12),
        errors,
        places,
    )
    if errors:
        raise Malformed(fields={f"places.{k}": v for k, v in errors.fields.items()})
    if found is None or found.pk != implementation.pk:
        raise Malformed(fields={"places.destination": _("Not the deciding department's place.")})
    return places


def _material_from(case: Case, row: dict[str, Any], source: str) -> Material | None:
    """A file handed in at ``source``, as a handle to fetch (the deciding node fetches; a
    mirror of a leg's node only lists it). None when the handle is known already."""
    from tongban.catalog.models import MaterialSpec

    spec = MaterialSpec.objects.filter(scenario=case.scenario, key=_str(row, "spec", 64)).first()
    if spec is None:
        raise NotFound(_("A material of this case is not asked for by its situation here."))
    ref = _str(row, "ref", 32)
    sha256 = _str(row, "sha256", 64, required=False)
    if not _REF.fullmatch(ref) or (sha256 and not _SHA256.fullmatch(sha256)):
        raise Malformed(fields={"ref": _("Expected a file handle.")})
    limit = getattr(settings, "TONGBAN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
    size = _int(row, "size", 0, limit) or 0
    source_kind = _str(row, "source", 16, required=False) or MaterialSource.UPLOAD
    if source_kind not in MaterialSource.values:
        raise Malformed(fields={"source": _("Expected a short text.")})
    held_at = _str(row, "node", 6, required=False) or source
    if not _NODE.fullmatch(held_at):
        raise Malformed(fields={"node": _("Expected a node code.")})
    check_node = _str(row, "check_node", 6, required=False)
    if check_node and not _NODE.fullmatch(check_node):
        raise Malformed(fields={"check_node": _("Expected a node code.")})
    if Material.objects.filter(case=case, ref=ref).exists():
        return None
    fetch = not is_mirror(case) and source_kind == MaterialSource.UPLOAD and bool(sha256)
    if fetch and held_at != source:
        raise Forbidden(_("A node hands over only the files handed in there."))
    return Material.objects.create(
        case=case,
        spec=spec,
        source=source_kind,
        original_name=_str(row, "name", 255, required=False),
        content_type=_str(row, "content_type", 64, required=False),
        size=size,
        sha256=sha256,
        reference=_str(row, "reference", 255, required=False),
        # As the node where it was handed in verified it (cases/licensed.py).
        license_name=_str(row, "license_name", 128, required=False),
        license_number=_str(row, "license_number", 64, required=False),
        license_issuer=_str(row, "license_issuer", 128, required=False),
        # As the node that made the data-sharing call recorded its answer (cases/datashared.py).
        check_question=_str(row, "check_question", 128, required=False),
        check_provider=_str(row, "check_provider", 128, required=False),
        check_node=check_node,
        verified_at=_parse_time(row, "verified_at"),
        original_to_post=bool(row.get("original_to_post")),
        ref=ref,
        remote_node=held_at,
        transfer="pending" if fetch else "",
        scan_status="not_scanned",
    )


def _append_copy(
    case: Case, link: dict[str, Any], source: str, *, received: bool = False
) -> CaseEvent:
    """A link of the other node's chain, copied into this node's chain of the case. From the
    node that received the case (``received``): only what a window or applicant does there,
    signed for by people of that node."""
    actor = _str(link, "actor", 140, required=False) or "system"
    action = _str(link, "action", 64)
    role = _str(link, "role", 32, required=False)
    if received:
        if action not in _RECEIVED_ACTIONS or role not in _RECEIVED_ROLES:
            raise Forbidden(_("The receiving node reports only what was done there."))
        actor = f"{actor.split('@')[0]}@{source}"
    elif "@" not in actor:
        actor = f"{actor}@{source}"
    payload = _obj(link, "payload")
    return services().append_event(
        case,
        actor=None,
        actor_label=actor,
        role=role,
        action=action,
        from_state=_str(link, "from", 32, required=False),
        to_state=_str(link, "to", 32),
        payload=payload,
        at=_parse_time(link, "at"),
        copied=True,
    )


def _apply_status(case: Case, data: dict[str, Any]) -> None:
    """Bring a mirror's state, clock, pauses and legs to what the deciding node says."""
    if not is_mirror(case):
        return
    flow = workflow.load(case.workflow)
    state = _str(data, "state", 32)
    if state not in flow.states:
        raise Malformed(fields={"state": _("Not a state of this case's workflow.")})
    case.state = state
    case.accepted_on = _parse_day(data, "accepted_on")
    case.originals_received_on = _parse_day(data, "originals_received_on")
    case.decided_at = _parse_time(data, "decided_at")
    case.approved_on = _parse_day(data, "approved_on")
    case.closed_at = _parse_time(data, "closed_at")
    case.promised_days = _int(data, "promised_days", 0, 10000)
    case.legal_days = _int(data, "legal_days", 0, 10000)
    case.extension_days = _int(data, "extension_days", 0, 10000) or 0
    number = _str(data, "number", 43, required=False)
    if number:
        case.remote_number = number
    pauses = []
    for row in _rows(data, "pauses"):
        kind = _str(row, "kind", 16)
        started = _parse_day(row, "started_on")
        if kind not in PauseKind.values or started is None:
            raise Malformed(fields={"pauses": _("Expected a list of objects.")})
        pauses.append(
            CasePause(
                case=case,
                kind=kind,
                reason=_str(row, "reason", 255, required=False),
                started_on=started,
                ended_on=_parse_day(row, "ended_on"),
            )
        )
    updates = []
    done: list[dict[str, Any]] = []
    by_seq = {leg.seq: leg for leg in case.legs.all()}
    for row in sorted(
        _rows(data, "legs"), key=lambda r: _int(r, "seq", 1, 100, required=True) or 0
    ):
        leg = by_seq.get(_int(row, "seq", 1, 100, required=True) or 0)
        leg_state = _str(row, "state", 16)
        if leg is None or leg_state not in LegState.values:
            raise Malformed(fields={"legs": _("Not the legs of this case.")})
        output = _obj(row, "output")
        leg.state = leg_state
        leg.output = protect(_leg_schema(case, leg.key), output) if output else {}
        merged = legs.handed_over(done) if leg_state != LegState.WAITING else {}
        leg.input = protect(_input_schema(case), merged)
        leg.started_at = _parse_time(row, "started_at")
        leg.finished_at = _parse_time(row, "finished_at")
        updates.append(leg)
        if leg_state == LegState.DONE:
            done.append(output)
    case.save()
    case.pauses.all().delete()
    CasePause.objects.bulk_create(pauses)
    CaseLeg.objects.bulk_update(updates, ["state", "output", "input", "started_at", "finished_at"])


def _input_schema(case: Case) -> dict[str, Any]:
    """Personal fields of any leg's record, for the input a leg is handed (merged records)."""
    plan = legs.plan_for_item(case.item.name)
    properties: dict[str, Any] = {}
    for step in plan.legs if plan else ():
        properties.update(step.schema.get("properties", {}))
    return {"properties": properties}


def on_updated(event: dict[str, Any]) -> None:
    """A link of the authoritative chain: copy it and take over the case's status."""
    data, source = event["data"], event["source"]
    case = _case_by_uid(event)
    if case.authority_node != source:
        raise CaseNotHere(_("Only the deciding node updates this copy."))
    _append_copy(case, _obj(data, "link"), source)
    _apply_status(case, data)


def on_material_added(event: dict[str, Any]) -> None:
    """A file handed in on the mirror of the node that received the case (the applicant's
    supplement, the window's scan)."""
    data, source = event["data"], event["source"]
    case = _case_by_uid(event)
    if is_mirror(case) or source != case.receiving_node:
        raise CaseNotHere(_("Only the node that received this case adds files to it."))
    if case.state not in services().UPLOAD_STATES:
        raise Forbidden(_("Materials can no longer be added to this case."))
    material = _material_from(case, _obj(data, "material"), source)
    if material is None:
        return  # a handle already known: nothing new
    role = _str(data, "role", 32, required=False) or "applicant"
    if role not in _RECEIVED_ROLES:
        raise Malformed(fields={"role": _("Expected a short text.")})
    actor = _str(data, "actor", 140, required=False) or "system"
    services().append_event(
        case,
        actor=None,
        actor_label=f"{actor.split('@')[0]}@{source}",
        role=role,
        action="attach",
        from_state=case.state,
        to_state=case.state,
        payload=_attach_payload(material),
    )
    transaction.on_commit(schedule_fetch)


def _attach_payload(material: Material) -> dict[str, Any]:
    """The link recording a material handed in on the mirror, by what stands for the paper."""
    if material.source == MaterialSource.LICENSE:
        return services().license_payload(material)
    if material.source == MaterialSource.DATASHARE:
        return services().datashare_payload(material)
    return {"material": material.spec.key, "sha256": material.sha256, "size": material.size}


def on_action_requested(event: dict[str, Any]) -> None:
    """Apply what was done on a mirror, if it may be; else record why not (so the mirror
    learns it). A request that may not be taken is a link of the chain; one from a node
    with no part in the case is refused (rejected, reported to the sender)."""
    data, source = event["data"], event["source"]
    case = _case_by_uid(event)
    if is_mirror(case) or source not in case.peers:
        raise CaseNotHere(_("Only a node holding a copy of this case acts on it."))
    action = _str(data, "action", 64)
    actor = _str(data, "actor", 140, required=False) or "system"
    role = _str(data, "role", 32, required=False) or "applicant"
    leg_key = _str(data, "leg", 64, required=False) or None
    payload = _obj(data, "payload")
    try:
        with transaction.atomic():
            services().perform_remote(
                case,
                source=source,
                action=action,
                payload=dict(payload),
                actor_label=f"{actor.split('@')[0]}@{source}",
                role=role,
                leg_key=leg_key,
            )
    except DomainError as error:
        case.refresh_from_db()
        services().append_event(
            case,
            actor=None,
            actor_label=f"system@{own_node()}",
            role="system",
            action="request_refused",
            from_state=case.state,
            to_state=case.state,
            payload={"action": action, "from_node": source, "reason": str(error.message)[:500]},
        )


# Files --------------------------------------------------------------------------------------


# Tries before a file that cannot be fetched is given up (the sweep runs every minute).
MAX_FETCH_ATTEMPTS = 30


def provide_material(peer: str, ref: str) -> tuple[bytes, str]:
    """A file handed in here, for the node that decides its case (or another node holding a
    copy of it). Only files handed in at this node are offered: their handles are ours."""
    material = (
        Material.objects.select_related("case")
        .filter(ref=ref, remote_node="")
        .exclude(path="")
        .first()
    )
    if material is None or peer not in {material.case.authority_node, *material.case.peers} - {""}:
        # The same answer whether the handle exists or not.
        raise NotFound(_("No such file."))
    with default_storage.open(material.path, "rb") as handle:
        return handle.read(), material.content_type or "application/octet-stream"


def schedule_fetch() -> None:
    from tongban.cases.tasks import fetch_materials

    try:
        fetch_materials.enqueue()
    except Exception:  # the periodic sweep fetches them later
        log.exception("case.fetch_enqueue_failed")


def materials_fetch(*, limit: int = 50) -> int:
    """Fetch the files handed in at other nodes that are not here yet (those tried least
    first, so a node that never answers holds nobody else up); check size and hash, store and
    scan them. Returns how many arrived."""
    from tongban.exchange import blobs

    fetched = 0
    pending = Material.objects.filter(transfer="pending").order_by("transfer_attempts", "id")
    for material in pending[:limit]:
        try:
            content = blobs.fetch(
                peer=material.remote_node, kind=BLOB_KIND, ref=material.ref, limit=material.size
            )
        except DomainError as error:
            attempts = material.transfer_attempts + 1
            Material.objects.filter(pk=material.pk, transfer="pending").update(
                transfer_attempts=attempts,
                transfer_error=str(error.message)[:255],
                transfer="failed" if attempts >= MAX_FETCH_ATTEMPTS else "pending",
            )
            log.warning("case.material_fetch_failed", material_id=material.pk, error=str(error))
            continue
        fetched += _store_fetched(material, content)
    return fetched


def _store_fetched(material: Material, content: bytes) -> bool:
    kind = files.sniff_bytes(content)
    problem = ""
    if len(content) != material.size or hashlib.sha256(content).hexdigest() != material.sha256:
        problem = "the file does not match the size and SHA-256 announced"
    elif kind is None:
        problem = "not a PDF, JPEG, PNG or OFD file"
    stored = ""
    if not problem:
        stored = default_storage.save(
            f"cases/{material.case_id}/{uuid.uuid4().hex}.{kind}", ContentFile(content)
        )
        result = scanning.scanner().scan(Path(default_storage.path(stored)))
        if result.status == "infected":
            default_storage.delete(stored)
            problem = "refused by the virus scanner"
    if problem:
        Material.objects.filter(pk=material.pk, transfer="pending").update(
            transfer="failed", transfer_error=problem
        )
        log.error("case.material_refused", material_id=material.pk, problem=problem)
        return False
    assert kind is not None
    with transaction.atomic():
        updated = Material.objects.filter(pk=material.pk, transfer="pending").update(
            path=stored,
            transfer="fetched",
            transfer_error="",
            scan_status=result.status,
            content_type=files.CONTENT_TYPES[kind],
        )
    if not updated:
        default_storage.delete(stored)  # another worker stored it first
        return False
    return True


def register() -> None:
    """Hook the case domain into the exchange (called when the app is ready)."""
    from tongban.exchange import blobs, messaging

    messaging.register_handler(HANDED_OVER, on_handed_over)
    messaging.register_handler(UPDATED, on_updated)
    messaging.register_handler(ACTION_REQUESTED, on_action_requested)
    messaging.register_handler(MATERIAL_ADDED, on_material_added)
    messaging.register_sweep("case-materials", materials_fetch)
    blobs.register_provider(BLOB_KIND, provide_material)


def other_nodes(case: Case) -> list[str]:
    """The nodes that hold another copy of ``case`` and should hear of what happens to it
    here: the deciding node, from a mirror; every mirror, from the deciding node."""
    if is_mirror(case):
        return [case.authority_node]
    return list(case.peers)


def send_about(case: Case, *, to: str, type: str, data: dict[str, Any]) -> None:
    """For other domains: a message about ``case`` to a node holding a copy, in the case's
    stream (the same subject, so it keeps its place among the case's own events)."""
    _send(case, to=to, type=type, data={"uid": str(case.uid), **data})


def case_for_event(event: dict[str, Any]) -> Case:
    """The case an incoming event of another domain is about, locked; CaseNotHere unless the
    sender holds a copy of it (the deciding node of this mirror, or a mirror of this case)."""
    source = event["source"]
    case = _case_by_uid(event)
    if source not in ({case.authority_node} if is_mirror(case) else set(case.peers)):
        raise CaseNotHere(_("Only a node holding a copy of this case adds to it."))
    return case
