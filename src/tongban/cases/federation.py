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
  scans it.

Each node numbers its own copy (numbers are per node: two nodes never draw from one counter);
``Case.uid`` is the case on every node, the subject of its events, and ``remote_number`` the
number at the other end. Personal values travel in clear inside the signed events (the channel
between nodes is TLS) and are stored encrypted with the receiving node's own keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
)
from tongban.cases.personal import protect, reveal
from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from tongban.core.logging import get_logger
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
        "leg_plan": [
            {
                "seq": leg.seq,
                "key": leg.key,
                "label": leg.label,
                "place": leg.place,
                "division": leg.division_id,
                "department": leg.department.key,
                "node": leg.node,
                "roles": leg.roles,
            }
            for leg in case.legs.select_related("department").order_by("seq")
        ],
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


def _text(data: dict[str, Any], name: str, limit: int = 255) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(fields={name: _("Expected a short text.")})
    return value


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


def _parse_day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def _case_by_uid(data: dict[str, Any], *, lock: bool = True) -> Case:
    try:
        uid = uuid.UUID(str(data.get("uid")))
    except ValueError:
        raise ValidationFailed(fields={"uid": _("Expected a UUID.")}) from None
    cases = Case.objects.select_related("item", "scenario", "implementation")
    if lock:
        cases = cases.select_for_update(of=("self",))
    case = cases.filter(uid=uid).first()
    if case is None:
        raise CaseNotHere(_("This node holds no copy of case %(uid)s.") % {"uid": uid})
    return case


def on_handed_over(event: dict[str, Any]) -> None:
    """Create this node's copy: the authoritative case when this node decides it, else a
    mirror (a JOINT case's leg node)."""
    from tongban.accounts.services import person_for_case_from_node
    from tongban.cases import services
    from tongban.catalog.models import Implementation, ServiceItem
    from tongban.catalog.selectors import version_current
    from tongban.regions.models import Department, Division

    data, source = event["data"], event["source"]
    if Case.objects.filter(uid=data.get("uid")).exists():
        return  # already here (a node handed it over twice): nothing to add
    authority = _text(data, "authority_node", 6)
    version = version_current()
    item = ServiceItem.objects.filter(version=version, code=_text(data, "item", 32)).first()
    if item is None:
        raise NotFound(_("The item of this case is not in this node's catalogue."))
    scenario = item.scenarios.filter(key=_text(data, "scenario", 64)).first()
    implementation = (
        Implementation.objects.filter(item=item, division_id=_text(data, "authority_division", 12))
        .select_related("department", "division")
        .first()
    )
    if scenario is None or implementation is None or implementation.department is None:
        raise NotFound(_("The situation or implementation of this case is unknown here."))
    if authority == own_node() and node_of(implementation.division_id) != own_node():
        raise Forbidden(_("This node does not decide this case."))
    applicant = data.get("applicant") or {}
    person = person_for_case_from_node(
        node=source,
        name=str(applicant.get("name", "")),
        id_number=str(applicant.get("id_number", "")),
        phone=str(applicant.get("phone", "") or ""),
    )
    receiving = _text(data, "receiving_division", 12)
    if not Division.objects.filter(code=receiving).exists():
        receiving = _text(data, "receiving_node", 6)
    flow = workflow.load(_text(data, "workflow", 64))
    mirror = authority != own_node()
    case = Case.objects.create(
        uid=data["uid"],
        number=services.next_number(implementation, item, timezone.localdate()),
        query_code=_text(data, "query_code", 12),
        item=item,
        scenario=scenario,
        implementation=implementation,
        mode=_text(data, "mode", 8),
        workflow=flow.name,
        state=_text(data, "state", 32),
        applicant_person=person,
        form_data=protect(scenario.form_schema, data.get("form_data") or {}),
        receiving_division_id=receiving,
        authority_division=implementation.division,
        authority_department=implementation.department,
        submitted_at=_parse_time(data.get("submitted_at")),
        received_on=_parse_day(data.get("received_on")),
        authority_node=authority if mirror else "",
        receiving_node="" if mirror else _text(data, "receiving_node", 6),
        remote_number=_text(data, "number", 43),
        peers=[] if mirror else [source],
    )
    for row in data.get("leg_plan") or []:
        department = Department.objects.get(key=row["department"])
        CaseLeg.objects.create(
            case=case,
            seq=row["seq"],
            key=row["key"],
            label=row["label"],
            place=row["place"],
            division_id=row["division"],
            department=department,
            node=row["node"],
            roles=list(row.get("roles") or []),
        )
    for row in data.get("materials") or []:
        _material_from(case, row, source)
    for link in data.get("history") or []:
        _append_copy(case, link, source)
    _apply_status(case, data)
    if mirror:
        return
    # The authoritative copy: say so in its chain (the receiving node learns our number), and
    # hand the case to the other nodes of its legs.
    services.append_event(
        case,
        actor=SYSTEM,
        role="system",
        action="handover_received",
        from_state=case.state,
        to_state=case.state,
        payload={"from_node": source, "number": case.number},
    )
    for node in sorted({leg.node for leg in case.legs.all()} - {own_node(), source}):
        hand_over(case, to=node)
    transaction.on_commit(schedule_fetch)


def _material_from(case: Case, row: dict[str, Any], source: str) -> Material:
    from tongban.catalog.models import MaterialSpec

    spec = MaterialSpec.objects.filter(scenario=case.scenario, key=row.get("spec")).first()
    if spec is None:
        raise NotFound(_("A material of this case is not asked for by its situation here."))
    node = str(row.get("node") or source)
    local = node == own_node()
    material = Material.objects.filter(ref=str(row.get("ref", "")), case=case).first()
    if material is not None:
        return material
    return Material.objects.create(
        case=case,
        spec=spec,
        source=row.get("source") or MaterialSource.UPLOAD,
        original_name=str(row.get("name", ""))[:255],
        content_type=str(row.get("content_type", ""))[:64],
        size=int(row.get("size") or 0),
        sha256=str(row.get("sha256", ""))[:64],
        reference=str(row.get("reference", ""))[:255],
        original_to_post=bool(row.get("original_to_post")),
        ref=str(row.get("ref", ""))[:32],
        remote_node="" if local else node,
        transfer="" if local or not row.get("sha256") else "pending",
        scan_status="not_scanned",
    )


def _append_copy(case: Case, link: dict[str, Any], source: str) -> CaseEvent:
    """A link of the other node's chain, copied into this node's chain of the case."""
    from tongban.cases import services

    actor = str(link.get("actor", ""))[:140]
    return services.append_event(
        case,
        actor=None,
        actor_label=actor if "@" in actor else f"{actor}@{source}",
        role=str(link.get("role", ""))[:32],
        action=str(link.get("action", ""))[:64],
        from_state=str(link.get("from", ""))[:32],
        to_state=str(link.get("to", ""))[:32],
        payload=dict(link.get("payload") or {}),
        at=_parse_time(link.get("at")),
        copied=True,
    )


def _apply_status(case: Case, data: dict[str, Any]) -> None:
    """Bring a copy's state, clock, pauses and legs to what the authority says."""
    if not is_mirror(case):
        return
    case.state = _text(data, "state", 32) or case.state
    case.accepted_on = _parse_day(data.get("accepted_on"))
    case.originals_received_on = _parse_day(data.get("originals_received_on"))
    case.decided_at = _parse_time(data.get("decided_at"))
    case.approved_on = _parse_day(data.get("approved_on"))
    case.closed_at = _parse_time(data.get("closed_at"))
    case.promised_days = data.get("promised_days")
    case.legal_days = data.get("legal_days")
    case.extension_days = int(data.get("extension_days") or 0)
    if data.get("number"):
        case.remote_number = _text(data, "number", 43)
    case.save()
    case.pauses.all().delete()
    CasePause.objects.bulk_create(
        CasePause(
            case=case,
            kind=row["kind"],
            reason=str(row.get("reason", ""))[:255],
            started_on=dt.date.fromisoformat(str(row["started_on"])),
            ended_on=_parse_day(row.get("ended_on")),
        )
        for row in data.get("pauses") or []
    )
    done: list[dict[str, Any]] = []
    for row in sorted(data.get("legs") or [], key=lambda r: r["seq"]):
        leg = case.legs.filter(seq=row["seq"]).first()
        if leg is None:
            continue
        schema = _leg_schema(case, leg.key)
        output = row.get("output") or {}
        leg.state = row["state"]
        leg.output = protect(schema, output) if output else {}
        leg.input = legs.handed_over(done) if leg.state != LegState.WAITING else {}
        leg.input = protect(_input_schema(case), leg.input)
        leg.started_at = _parse_time(row.get("started_at"))
        leg.finished_at = _parse_time(row.get("finished_at"))
        leg.save(update_fields=["state", "output", "input", "started_at", "finished_at"])
        if leg.state == LegState.DONE:
            done.append(output)


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
    case = _case_by_uid(data)
    if case.authority_node != source:
        raise CaseNotHere(_("Only the deciding node updates this copy."))
    link = data.get("link") or {}
    _append_copy(case, link, source)
    _apply_status(case, data)


def on_material_added(event: dict[str, Any]) -> None:
    data, source = event["data"], event["source"]
    case = _case_by_uid(data)
    if is_mirror(case) or source not in case.peers:
        raise CaseNotHere(_("Only a node holding a copy of this case adds to it."))
    from tongban.cases import services

    row = data.get("material") or {}
    material = _material_from(case, row, source)
    actor = _text(data, "actor", 140) or f"system@{source}"
    services.append_event(
        case,
        actor=None,
        actor_label=actor if "@" in actor else f"{actor}@{source}",
        role=_text(data, "role", 32) or "applicant",
        action="attach",
        from_state=case.state,
        to_state=case.state,
        payload={"material": material.spec.key, "sha256": material.sha256, "size": material.size},
    )
    transaction.on_commit(schedule_fetch)


def on_action_requested(event: dict[str, Any]) -> None:
    """Apply what was done on a mirror, if it may be; else record why not (so the mirror
    learns it). Refusals are links of the chain, never a failed message."""
    from tongban.cases import services

    data, source = event["data"], event["source"]
    case = _case_by_uid(data)
    if is_mirror(case) or source not in case.peers:
        raise CaseNotHere(_("Only a node holding a copy of this case acts on it."))
    action = _text(data, "action", 64)
    actor = _text(data, "actor", 140)
    role = _text(data, "role", 32)
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    try:
        with transaction.atomic():
            services.perform_remote(
                case,
                source=source,
                action=action,
                payload=dict(payload),
                actor_label=actor if "@" in actor else f"{actor}@{source}",
                role=role,
                leg_key=data.get("leg"),
            )
    except DomainError as error:
        case.refresh_from_db()
        services.append_event(
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


def provide_material(peer: str, ref: str) -> tuple[bytes, str]:
    """A file of a case for a node that holds a copy of it (the authority asking a mirror, or
    a mirror asking the authority)."""
    material = Material.objects.select_related("case").filter(ref=ref).exclude(path="").first()
    if material is None:
        raise NotFound(_("No such file."))
    case = material.case
    if peer not in {case.authority_node, *case.peers} - {""}:
        raise Forbidden(_("This node holds no copy of the case of this file."))
    with default_storage.open(material.path, "rb") as handle:
        return handle.read(), material.content_type or "application/octet-stream"


def schedule_fetch() -> None:
    from tongban.cases.tasks import fetch_materials

    try:
        fetch_materials.enqueue()
    except Exception:  # the periodic sweep fetches them later
        log.exception("case.fetch_enqueue_failed")


def materials_fetch(*, limit: int = 50) -> int:
    """Fetch the files handed in at other nodes that are not here yet; check size and hash,
    store and scan them. Returns how many arrived."""
    from tongban.exchange import blobs

    fetched = 0
    pending = Material.objects.filter(transfer="pending").order_by("id")[:limit]
    for material in pending:
        try:
            content = blobs.fetch(peer=material.remote_node, kind=BLOB_KIND, ref=material.ref)
        except DomainError as error:
            Material.objects.filter(pk=material.pk).update(transfer_error=str(error.message)[:255])
            log.warning("case.material_fetch_failed", material_id=material.pk, error=str(error))
            continue
        _store_fetched(material, content)
        fetched += material.transfer == "fetched"
    return fetched


def _store_fetched(material: Material, content: bytes) -> None:
    kind = files.sniff_bytes(content)
    problem = ""
    if len(content) != material.size or hashlib.sha256(content).hexdigest() != material.sha256:
        problem = "the file does not match the size and SHA-256 announced"
    elif kind is None:
        problem = "not a PDF, JPEG, PNG or OFD file"
    if problem:
        Material.objects.filter(pk=material.pk).update(transfer="failed", transfer_error=problem)
        material.transfer = "failed"
        log.error("case.material_refused", material_id=material.pk, problem=problem)
        return
    stored = default_storage.save(
        f"cases/{material.case_id}/{uuid.uuid4().hex}.{kind}", ContentFile(content)
    )
    result = scanning.scanner().scan(Path(default_storage.path(stored)))
    with transaction.atomic():
        updated = Material.objects.filter(pk=material.pk, transfer="pending").update(
            path=stored, transfer="fetched", transfer_error="", scan_status=result.status
        )
    if not updated:
        default_storage.delete(stored)  # another worker stored it first
        return
    material.transfer = "fetched"


def register() -> None:
    """Hook the case domain into the exchange (called when the app is ready)."""
    from tongban.exchange import blobs, messaging

    messaging.register_handler(HANDED_OVER, on_handed_over)
    messaging.register_handler(UPDATED, on_updated)
    messaging.register_handler(ACTION_REQUESTED, on_action_requested)
    messaging.register_handler(MATERIAL_ADDED, on_material_added)
    messaging.register_sweep("case-materials", materials_fetch)
    blobs.register_provider(BLOB_KIND, provide_material)
