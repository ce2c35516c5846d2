"""`tongban demo flows`: one demo case per mode (ONLINE, PROXY, JOINT) driven end to end through
a node's HTTP API, as the real actors would: the citizen applies and uploads, the window clerk
receives, scans and forwards, the department's reviewer and approver accept, review, decide,
deliver and complete. Everything happens on the node at the URL, with the accounts that
`tongban init --demo` loads (ops/demo.py); nothing here touches the database directly.

The client is plain urllib: a cookie jar per actor (Django's session), the CSRF token from the
cookie the login answer sets, sent back as ``X-CSRFToken`` on every write.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.cookiejar import CookieJar
from typing import Any
from zoneinfo import ZoneInfo

from tongban.ops.demo import (
    DEMO_PASSWORD,
    PERSONS,
    DemoPerson,
    demo_id_number,
    demo_otp_key,
    demo_staff_usernames,
    totp_code,
)

CSRF_COOKIE = "csrftoken"  # Django's default CSRF_COOKIE_NAME; tongban does not change it
FINAL_STATE = "completed"
CHINA = ZoneInfo("Asia/Shanghai")


class FlowError(Exception):
    """A demo case did not go as it should; the message says where and why."""


class UnexpectedStatus(FlowError):
    """An HTTP answer other than the one expected (``status`` says which)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NodeError(FlowError):
    """Nothing more can be done on this node (unreachable, unhealthy, a login refused): the
    remaining cases would fail the same way."""


# The HTTP client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    content_type: str
    content: bytes


class ApiClient:
    """One actor's conversation with the node: its own cookies (session and CSRF token)."""

    def __init__(self, base_url: str, *, who: str = "anonymous", timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.who = who
        self.timeout = timeout
        self.cookies = CookieJar()
        # No proxies from the environment: the demo talks to the node named, directly.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def get(self, path: str, *, query: dict[str, str] | None = None, expect: int = 200) -> Any:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        return self.call("GET", path, expect=expect)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        upload: Upload | None = None,
        expect: int = 200,
    ) -> Any:
        return self.call("POST", path, body=body, form=form, upload=upload, expect=expect)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: dict[str, str] | None = None,
        upload: Upload | None = None,
        expect: int = 200,
    ) -> Any:
        """Send one request; the decoded JSON answer (None for an empty one). FlowError when
        the status is not ``expect``, naming the call, the status and the JSON error."""
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if upload is not None:
            data, content_type = _multipart(form or {}, upload)
            headers["Content-Type"] = content_type
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if method not in ("GET", "HEAD", "OPTIONS"):
            token = self.csrf_token()
            if token:
                headers["X-CSRFToken"] = token
            # Django checks the Referer of HTTPS writes against the host.
            headers["Referer"] = self.base_url + "/"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in node_open
            self.base_url + path, data=data, headers=headers, method=method
        )
        call = f"{method} {path.split('?')[0]} (as {self.who})"
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise NodeError(
                f"{call}: the node at {self.base_url} did not answer ({reason})"
            ) from None
        answer = _decode(raw)
        if status != expect:
            shown = json.dumps(answer, ensure_ascii=False) if answer is not None else "(empty)"
            raise UnexpectedStatus(f"{call} answered {status}, expected {expect}: {shown}", status)
        return answer

    def csrf_token(self) -> str:
        return next((c.value or "" for c in self.cookies if c.name == CSRF_COOKIE), "")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"body": raw[:300].decode("utf-8", "replace")}


def _multipart(fields: dict[str, str], upload: Upload) -> tuple[bytes, str]:
    boundary = "tongban-" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    parts.append(
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{upload.field}"; '
            f'filename="{upload.filename}"\r\n'
            f"Content-Type: {upload.content_type}\r\n\r\n"
        ).encode()
        + upload.content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def demo_pdf(text: str) -> bytes:
    """A small, well-formed one-page PDF (cross-reference offsets right) saying ``text``
    (ASCII): what a scanner would produce, without a PDF library."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 14 Tf 72 770 Td ({escaped}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# The demo of each node ------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeDemo:
    """Who does what in the demo of one province's node (ops/demo.py loads these accounts)."""

    authority_division: str  # where the deciding department sits
    department: str  # the deciding department (key) of every item below
    reviewer: str
    approver: str
    clerk: str  # the window clerk who receives PROXY cases
    window_division: str  # where that clerk's hall is
    online_item: str
    proxy_item: str
    joint_item: str
    joint_origin: str  # the other end of the JOINT case (转出地)


DEMOS: dict[str, NodeDemo] = {
    "500000": NodeDemo(
        authority_division="500000",
        department="cq-hrss",
        reviewer="reviewer",
        approver="approver",
        clerk="clerk-yuzhong",  # 渝中区 window (500103)
        window_division="500103",
        online_item="失业登记",
        proxy_item="失业登记",
        joint_item="企业职工基本养老保险关系转移接续",
        joint_origin="500101",  # 万州区; its leg is decided at the city (500000), same node
    ),
    "510000": NodeDemo(
        authority_division="510100",
        department="cd-hrss",
        reviewer="reviewer",
        approver="approver",
        clerk="clerk-jinjiang",  # 锦江区 window (510104)
        window_division="510104",
        online_item="失业保险金申领",
        proxy_item="失业保险金申领",
        joint_item="企业职工基本养老保险关系转移接续",
        joint_origin="510104",
    ),
}

# The applicant of each mode's case (ops/demo.py PERSONS).
APPLICANTS = {"ONLINE": "张三", "PROXY": "王芳", "JOINT": "李四"}


def _person(name: str) -> DemoPerson:
    return next(person for person in PERSONS if person.name == name)


# The running node ----------------------------------------------------------------------------


@dataclass
class Item:
    code: str
    name: str
    scenario_key: str
    form_schema: dict[str, Any]
    materials: list[dict[str, Any]]  # the scenario's required materials


@dataclass
class Node:
    url: str
    code: str
    demo: NodeDemo
    timeout: float
    anonymous: ApiClient
    sessions: dict[str, ApiClient] = field(default_factory=dict)

    def as_user(self, username: str) -> ApiClient:
        """A logged-in client for this demo account (logged in once, then reused)."""
        if username not in self.sessions:
            client = ApiClient(self.url, who=username, timeout=self.timeout)
            try:
                self._log_in(client, username)
            except NodeError:
                raise
            except FlowError as error:
                raise NodeError(
                    f"{error} — the demo login {username!r} does not work here; was the node "
                    "set up with `tongban init --demo`?"
                ) from None
            if not client.csrf_token():
                raise NodeError(f"logging in as {username!r} set no {CSRF_COOKIE} cookie")
            self.sessions[username] = client
        return self.sessions[username]

    def _log_in(self, client: ApiClient, username: str) -> None:
        body = {"username": username, "password": DEMO_PASSWORD}
        if username not in demo_staff_usernames(self.code):
            client.post("/api/v1/accounts/login", body)
            return
        # Staff give their authenticator code as well (the demo's is computable). A code is
        # good once: if this login already used the current one (two runs within 30 seconds),
        # the next step's code is accepted too, after the device's one-second throttle.
        key = demo_otp_key(self.code, username)
        try:
            client.post("/api/v1/accounts/login", {**body, "otp_code": totp_code(key)})
        except UnexpectedStatus as error:
            if error.status != 401 or "otp_invalid" not in str(error):
                raise
            time.sleep(1.1)
            client.post(
                "/api/v1/accounts/login", {**body, "otp_code": totp_code(key, steps_ahead=1)}
            )

    def log_out(self) -> None:
        for client in self.sessions.values():
            try:
                client.post("/api/v1/accounts/logout", expect=204)
            except FlowError:
                # NOTE: best effort: the session expires on its own, and a failed logout must
                # not hide how the cases went.
                continue
        self.sessions.clear()

    def item(self, name: str, mode: str) -> Item:
        """The catalogue item called ``name``, checked to be handled in ``mode`` by the demo's
        department at its division; the scenario to apply under and its required materials."""
        listing = self.anonymous.get(
            "/api/v1/catalog/items",
            query={"mode": mode, "jurisdiction": self.demo.authority_division, "limit": "200"},
        )
        code = next((i["code"] for i in listing["items"] if i["name"] == name), None)
        if code is None:
            raise FlowError(
                f"the catalogue has no {mode} item {name!r} implemented at "
                f"{self.demo.authority_division}"
            )
        guide = self.anonymous.get(f"/api/v1/catalog/items/{_quote(code)}")
        departments = {
            (impl.get("department") or {}).get("key")
            for impl in guide["implementations"]
            if impl["division_code"] == self.demo.authority_division
        }
        if self.demo.department not in departments:
            raise FlowError(
                f"{name} ({code}) is not implemented by {self.demo.department} at "
                f"{self.demo.authority_division}"
            )
        scenarios = sorted(guide["scenarios"], key=lambda s: (not s["generic"], s["key"]))
        if not scenarios:
            raise FlowError(f"{name} ({code}) has no scenario to apply under")
        scenario = scenarios[0]
        required = [m for m in scenario["materials"] if m["required"]]
        for material in required:
            if material["accepted_types"] and "pdf" not in material["accepted_types"]:
                raise FlowError(
                    f"{name}: the required material {material['key']} takes no PDF, the only "
                    "kind the demo scans"
                )
        return Item(
            code=code,
            name=name,
            scenario_key=scenario["key"],
            form_schema=scenario["form_schema"],
            materials=required,
        )


def form_data(item: Item, person: DemoPerson) -> dict[str, str]:
    """The application form for the demo person, from what the scenario's schema asks."""
    known = {
        "applicant_name": person.name,
        "id_number": demo_id_number(person),
        "phone": person.phone,
        "statement": f"申请办理{item.name}（演示办件，人物均为虚构）。",
    }
    properties = item.form_schema.get("properties", {})
    unknown = [name for name in item.form_schema.get("required", []) if name not in known]
    if unknown:
        raise FlowError(
            f"{item.name}: scenario {item.scenario_key} asks for fields the demo cannot fill: "
            + ", ".join(unknown)
        )
    return {name: value for name, value in known.items() if name in properties}


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _today() -> str:
    return dt.datetime.now(tz=CHINA).date().isoformat()


# One case ------------------------------------------------------------------------------------


@dataclass
class CaseRun:
    """What is known of one demo case so far; the line printed for it."""

    mode: str
    node: str
    number: str = ""
    query_code: str = ""
    state: str = ""
    license: str = ""  # the identifier of the licence the case issued, if it issued one
    # The materials verified at the source by data sharing instead of handed in (免提交).
    verified: list[str] = field(default_factory=list)

    def line(self) -> dict[str, str]:
        return {
            "number": self.number,
            "query_code": self.query_code,
            "mode": self.mode,
            "node": self.node,
            "state": self.state,
            **({"license": self.license} if self.license else {}),
            **({"datashare": ",".join(self.verified)} if self.verified else {}),
        }

    def seen(self, case: dict[str, Any]) -> dict[str, Any]:
        self.number = case["number"]
        self.query_code = case["query_code"]
        self.state = case["state"]
        return case


def _act(
    node: Node,
    run: CaseRun,
    username: str,
    action: str,
    expect_state: str,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    case = run.seen(
        node.as_user(username).post(
            f"/api/v1/cases/{_quote(run.number)}/actions/{action}", payload or {}
        )
    )
    if case["state"] != expect_state:
        raise FlowError(
            f"{run.mode} {run.number}: after {action} by {username} the case is "
            f"{case['state']!r}, expected {expect_state!r}"
        )
    return case


def _upload_materials(node: Node, run: CaseRun, username: str, item: Item) -> None:
    """Hand in the required materials: verified at the source by data sharing where the
    material allows it and the source confirms it (免提交), otherwise as a scanned PDF."""
    client = node.as_user(username)
    for material in item.materials:
        if material.get("datashare_check"):
            try:
                client.post(
                    f"/api/v1/cases/{_quote(run.number)}/materials/datashare",
                    {"spec_key": material["key"]},
                    expect=201,
                )
                run.verified.append(material["key"])
                continue
            except UnexpectedStatus as error:
                # No grant, no source for this applicant, or the source said no: the paper.
                if error.status not in (400, 403, 404, 409):
                    raise
        client.post(
            f"/api/v1/cases/{_quote(run.number)}/materials",
            form={"spec_key": material["key"]},
            upload=Upload(
                field="file",
                filename=f"{material['key']}.pdf",
                content_type="application/pdf",
                content=demo_pdf(f"tongban demo: {material['key']} (fictitious)"),
            ),
            expect=201,
        )


def _decide_and_close(node: Node, run: CaseRun) -> None:
    demo = node.demo
    _act(node, run, demo.reviewer, "begin_review", "in_review")
    _act(node, run, demo.approver, "approve", "approved")
    _deliver_and_complete(node, run)


def _deliver_and_complete(node: Node, run: CaseRun) -> None:
    _act(node, run, node.demo.reviewer, "deliver", "delivering")
    _act(node, run, node.demo.reviewer, "complete", FINAL_STATE)


def _find_license(node: Node, run: CaseRun, holder: str) -> None:
    """The licence the case issued, as its holder's wallet shows it (none for items that issue
    no licence); its credential is verified on the node's public verify endpoint."""
    held = node.as_user(holder).get("/api/v1/licenses/mine")
    issued = next((row for row in held if row.get("case_number") == run.number), None)
    if issued is None:
        return
    check = node.anonymous.post("/api/v1/licenses/verify", {"text": issued["credential"]})
    if not check.get("valid"):
        raise FlowError(
            f"{run.mode} {run.number}: licence {issued['identifier']} does not verify: "
            f"{check.get('code')} {check.get('message')}"
        )
    run.license = issued["identifier"]


def _check_public_view(node: Node, run: CaseRun) -> None:
    """办件查询: anyone with the number and the query code sees the final state."""
    view = node.anonymous.get(
        f"/api/v1/public/cases/{_quote(run.number)}", query={"code": run.query_code}
    )
    if view["state"] != FINAL_STATE:
        raise FlowError(
            f"{run.mode} {run.number}: the public look-up shows {view['state']!r}, "
            f"expected {FINAL_STATE!r}"
        )


def flow_online(node: Node, run: CaseRun) -> None:
    """全程网办: the citizen applies and uploads; the department accepts, reviews, approves,
    delivers and completes."""
    demo = node.demo
    item = node.item(demo.online_item, "ONLINE")
    person = _person(APPLICANTS["ONLINE"])
    citizen = person.phone
    run.seen(
        node.as_user(citizen).post(
            "/api/v1/cases",
            {
                "item_code": item.code,
                "scenario_key": item.scenario_key,
                "authority_division": demo.authority_division,
                "form_data": form_data(item, person),
                "mode": "ONLINE",
            },
            expect=201,
        )
    )
    _upload_materials(node, run, citizen, item)
    _act(node, run, demo.reviewer, "accept", "accepted")
    _decide_and_close(node, run)
    _check_public_view(node, run)
    _find_license(node, run, citizen)


def _cross_province_window(client: ApiClient, division: str) -> int | None:
    """The 跨省通办 window of the clerk's hall, as the API lists it (None if there is none)."""
    for hall in client.get("/api/v1/regions/halls", query={"division": division}):
        for window in hall.get("windows", []):
            if window.get("kind") == "cross_province":
                return int(window["id"])
    return None


def flow_proxy(node: Node, run: CaseRun) -> None:
    """收受分离: the window clerk receives for the citizen in front of them, scans the ID,
    goes through the formal review checklist and forwards; the department decides."""
    demo = node.demo
    item = node.item(demo.proxy_item, "PROXY")
    person = _person(APPLICANTS["PROXY"])
    clerk = node.as_user(demo.clerk)
    window = _cross_province_window(clerk, demo.window_division)
    run.seen(
        clerk.post(
            "/api/v1/cases",
            {
                "item_code": item.code,
                "scenario_key": item.scenario_key,
                "authority_division": demo.authority_division,
                "form_data": form_data(item, person),
                "mode": "PROXY",
                "applicant_id_number": demo_id_number(person),
                **({"window_id": window} if window is not None else {}),
            },
            expect=201,
        )
    )
    if run.state != "received":
        raise FlowError(f"PROXY {run.number}: a received case is {run.state!r}, not 'received'")
    _upload_materials(node, run, demo.clerk, item)
    checklist = clerk.get(f"/api/v1/cases/{_quote(run.number)}/checklist")
    results: dict[str, str] = {}
    for row in checklist["materials"]:
        if row["uploaded"] or row.get("license") or row.get("datashare"):
            results[row["key"]] = "present"
        elif row["required"]:
            raise FlowError(
                f"PROXY {run.number}: the checklist shows the required material "
                f"{row['key']} as not scanned after the upload"
            )
        else:
            results[row["key"]] = "not_applicable"
    identity = {"method": "id_card_reader", "document": "resident_id_card", "holder": "applicant"}
    for name, choices in (
        ("method", checklist["identity_methods"]),
        ("document", checklist["identity_documents"]),
        ("holder", checklist["identity_holders"]),
    ):
        if identity[name] not in choices:
            raise FlowError(
                f"PROXY {run.number}: the checklist offers no identity {name} "
                f"{identity[name]!r} (offers {', '.join(choices)})"
            )
    _act(
        node,
        run,
        demo.clerk,
        "forward",
        "submitted",
        {"identity": identity, "checklist": results},
    )
    _act(node, run, demo.reviewer, "accept", "accepted")
    _decide_and_close(node, run)
    _check_public_view(node, run)
    if person.phone:
        _find_license(node, run, person.phone)


def _leg_work(number: str, today: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Who does each leg of the pension transfer (养老保险关系转移接续) and what they record."""
    serial = number[-12:]
    return {
        "request_transfer": ("reviewer", {"contact_letter_number": f"LXH{serial}"}),
        "certify_contributions": (
            "reviewer",
            {
                "certificate_number": f"JFPZ{serial}",
                "contribution_months": 86,
                "individual_account": 41235.6,
                "pooled_fund": 52800.0,
            },
        ),
        "complete_transfer": ("approver", {"completed_on": today}),
    }


def flow_joint(node: Node, run: CaseRun) -> None:
    """多地联办: the citizen applies at the destination (转入地) naming the origin (转出地);
    each leg is done in turn with its result; then delivery and completion."""
    demo = node.demo
    item = node.item(demo.joint_item, "JOINT")
    person = _person(APPLICANTS["JOINT"])
    citizen = person.phone
    case = run.seen(
        node.as_user(citizen).post(
            "/api/v1/cases",
            {
                "item_code": item.code,
                "scenario_key": item.scenario_key,
                "authority_division": demo.authority_division,
                "origin_division": demo.joint_origin,
                "form_data": form_data(item, person),
                "mode": "JOINT",
            },
            expect=201,
        )
    )
    _upload_materials(node, run, citizen, item)
    case = _act(node, run, demo.reviewer, "accept", "in_legs")
    work = _leg_work(run.number, _today())
    staff = {"reviewer": demo.reviewer, "approver": demo.approver}
    for _leg in range(len(case["legs"])):
        active = next((leg for leg in case["legs"] if leg["state"] == "active"), None)
        if active is None:
            break
        if active["key"] not in work:
            raise FlowError(f"JOINT {run.number}: the demo does not know the leg {active['key']!r}")
        role, result = work[active["key"]]
        last = active["seq"] == max(leg["seq"] for leg in case["legs"])
        case = _act(
            node,
            run,
            staff[role],
            "complete_leg",
            "approved" if last else "in_legs",
            {"result": result},
        )
    if case["state"] != "approved":
        raise FlowError(f"JOINT {run.number}: after its legs the case is {case['state']!r}")
    _deliver_and_complete(node, run)
    _check_public_view(node, run)


FLOWS: dict[str, Callable[[Node, CaseRun], None]] = {
    "ONLINE": flow_online,
    "PROXY": flow_proxy,
    "JOINT": flow_joint,
}


# The run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    run: CaseRun
    problem: str | None  # None: the case reached its final state

    @property
    def ok(self) -> bool:
        return self.problem is None


@contextmanager
def node_open(url: str, *, timeout: float = 30.0) -> Iterator[Node]:
    """The node at ``url``, with its demo; logs every demo account out at the end."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise NodeError(f"{url!r} is not an http(s) URL of a node, e.g. http://127.0.0.1:8000")
    anonymous = ApiClient(url, timeout=timeout)
    try:
        health = anonymous.get("/healthz")
    except NodeError:
        raise
    except FlowError as error:
        raise NodeError(f"the node at {url} is not healthy: {error}") from None
    code = str((health or {}).get("node", ""))
    demo = DEMOS.get(code)
    if demo is None:
        raise NodeError(
            f"the node at {url} is {code or 'of unknown code'}; the demo flows exist for "
            + ", ".join(sorted(DEMOS))
        )
    node = Node(url=url.rstrip("/"), code=code, demo=demo, timeout=timeout, anonymous=anonymous)
    try:
        yield node
    finally:
        node.log_out()


def run_flows(
    url: str,
    *,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    timeout: float = 30.0,
) -> list[Outcome]:
    """Drive one case per mode on the node at ``url``; ``on_outcome`` hears of each case as
    it ends. A case that goes wrong is reported and the next one still runs; NodeError
    (unreachable, a refused login) stops the run."""
    outcomes = []
    with node_open(url, timeout=timeout) as node:
        for mode, flow in FLOWS.items():
            run = CaseRun(mode=mode, node=node.code)
            outcomes.append(attempt(run, partial(flow, node, run)))
            on_outcome(outcomes[-1])
    return outcomes


def attempt(run: CaseRun, flow: Callable[[], None]) -> Outcome:
    """Run one demo case: its outcome, or NodeError when the node itself is the trouble."""
    try:
        flow()
    except NodeError:
        raise
    except FlowError as error:
        return Outcome(run, str(error))
    return Outcome(run, None)
