"""`tongban bench cases`: durable case transitions on this node's database.

Three measurements in one run, on the configured database (PostgreSQL is the target; SQLite
works and the report says which one it was):

1. **HTTP, closed loop**: ``concurrency`` clients, each submitting a case through
   ``POST /api/v1/cases`` as a citizen and accepting it through
   ``POST /api/v1/cases/{number}/actions/accept`` as a reviewer, as fast as they can. Every
   successful request is one durable transition (a committed state change with its chained event).
2. **HTTP, paced**: open-loop arrivals at half the throughput of (1), latency counted from the
   moment each submit was due (a late start is the server's queue, not the client's luck).
3. **Raw SQL**: the same durable writes without Django or HTTP, one transaction and commit per
   transition (sequence row, case row, first event; then lock, update, second event): the floor
   the application is compared with.

The web server is started here (the same granian command as ``tongban serve``, without the
background worker, on a free loopback port) unless ``--url`` names one that uses the same
database. Bench accounts (citizens ``压测…`` with phones 1990000…, reviewer ``bench-reviewer-…``)
are created through the account services, get a fresh random password for the run and an unusable
one afterwards. Every case the run made (HTTP and raw), with its events and anything else
attached, is deleted at the end and the daily case-number counters are put back, so the node's
data is left as it was.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.db.models import Q

from tongban.accounts import services as account_services
from tongban.accounts.models import Staff, StaffRole, User
from tongban.accounts.selectors import person_find_by_id_number
from tongban.cases import workflow
from tongban.cases.models import Case, CaseEvent, CaseMode, CaseSequence
from tongban.cases.personal import protect
from tongban.catalog.forms import form_errors
from tongban.catalog.models import Implementation, Scenario
from tongban.catalog.selectors import version_current
from tongban.core import chain
from tongban.core.audit import SYSTEM
from tongban.core.errors import DomainError
from tongban.ops.demo import totp_code
from tongban.regions import codes

GOAL_TRANSITIONS_PER_S = 1000.0
GOAL_PACED_P99_MS = 50.0
MAX_ERROR_RATE = 0.01
RAW_PREFIX = "BENCH-RAW-"  # case numbers (and their sequence rows) written by the raw SQL part
REVIEWER_PREFIX = "bench-reviewer-"
CITIZEN_NAME = "压测{:03d}"
CITIZEN_PHONE = "1990000{:04d}"
STATEMENT = "压测：跨省通办办件吞吐量测量，测量结束即删除。"
SERVER_START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0


class BenchError(Exception):
    """The bench cannot run or its measurement failed (the command reports it and exits 1)."""


# Accounts and what to file ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One ONLINE item's implementation that bench cases are filed under."""

    item_code: str
    scenario_key: str
    division: str
    item_id: int
    scenario_id: int
    implementation_id: int
    department_id: int
    number_prefix: str  # what the case service puts before the date in a case number
    legal_days: int
    promised_days: int


@dataclass(frozen=True)
class Citizen:
    person_id: int
    user_id: int
    username: str
    phone: str
    form: dict[str, str]
    # By scenario id: the form as the service stores it (personal fields encrypted).
    stored_forms: dict[int, dict[str, Any]]


@dataclass(frozen=True)
class Reviewer:
    user_id: int
    staff_id: int
    username: str
    otp_key: str  # a fresh authenticator secret per run: staff sign in with its code


@dataclass
class Setup:
    vendor: str
    catalogue_version: int
    department: str
    targets: list[Target]
    citizens: list[Citizen]
    reviewer: Reviewer
    password: str
    sequences: dict[tuple[str, dt.date], int]  # the counters behind the targets' case numbers

    @property
    def user_ids(self) -> list[int]:
        return [c.user_id for c in self.citizens] + [self.reviewer.user_id]


def check_ready() -> int:
    """The catalogue version in force; BenchError if the node is not initialised."""
    from tongban.ops.management.commands.serve import _pending_migrations

    pending = _pending_migrations()
    if pending:
        raise BenchError(
            f"{len(pending)} database migration(s) not applied (e.g. {pending[0]}): "
            "run `tongban init` first"
        )
    try:
        return version_current().number
    except DomainError:
        raise BenchError(
            "no catalogue version is in force on this database: run `tongban init` first"
        ) from None


def choose_targets(*, max_items: int | None = None) -> tuple[str, list[Target]]:
    """The ONLINE items of this node's jurisdiction with a known implementing department whose
    form the bench can fill: those of the department (and division) with the most of them, so
    one reviewer accepts them all. Several items spread the daily case-number counters, as a
    node's real traffic does."""
    node = settings.TONGBAN_NODE_CODE
    implementations = (
        Implementation.objects.filter(
            item__version=version_current(),
            item__online=True,
            department__isnull=False,
            department__active=True,
        )
        .select_related("item", "department")
        .order_by("item__code", "division_id")
    )
    scenarios: dict[int, list[Scenario]] = {}
    for candidate in Scenario.objects.filter(
        item__in=[i.item_id for i in implementations]
    ).order_by("order", "id"):
        scenarios.setdefault(candidate.item_id, []).append(candidate)
    sample = _form(0, id_number=_citizen_id_number(0))
    groups: dict[tuple[str, str], list[Target]] = {}
    for implementation in implementations:
        if not codes.contains(node, implementation.division_id):
            continue
        scenario = next(
            (
                s
                for s in scenarios.get(implementation.item_id, [])
                if not form_errors(s.form_schema, sample)
            ),
            None,
        )
        department = implementation.department
        if scenario is None or department is None:
            continue
        item = implementation.item
        legal = implementation.legal_limit_days or _statutory_days()
        groups.setdefault((department.key, implementation.division_id), []).append(
            Target(
                item_code=item.code,
                scenario_key=scenario.key,
                division=implementation.division_id,
                item_id=item.pk,
                scenario_id=scenario.pk,
                implementation_id=implementation.pk,
                department_id=department.pk,
                number_prefix=implementation.code or ("0" * 18 + "0" + item.code),
                legal_days=legal,
                promised_days=implementation.promised_limit_days or legal,
            )
        )
    if not groups:
        raise BenchError(
            f"no ONLINE service item with a known implementing department in {node} whose "
            "form the bench can fill: run `tongban init` first"
        )
    (department_key, _division), targets = max(
        groups.items(), key=lambda entry: (len(entry[1]), entry[0])
    )
    return department_key, targets[: max_items or None]


def _statutory_days() -> int:
    from tongban.cases.services import STATUTORY_DAYS

    return STATUTORY_DAYS[CaseMode.ONLINE]


def _form(index: int, *, id_number: str) -> dict[str, str]:
    return {
        "applicant_name": CITIZEN_NAME.format(index),
        "id_number": id_number,
        "phone": CITIZEN_PHONE.format(index),
        "statement": STATEMENT,
    }


def _citizen_id_number(index: int) -> str:
    from stdnum.cn import ric

    # 渝中区, born from 1998-08-08 on, sequence numbers 900–999: fictitious and recognisable.
    born = dt.date(1998, 8, 8) + dt.timedelta(days=index // 100)
    body = f"500103{born:%Y%m%d}{900 + index % 100}"
    return body + ric.calc_check_digit(body + "0")


def prepare(*, citizens: int, max_items: int | None = None) -> Setup:
    """Bench accounts (created once, through the account services) and a fresh password for
    this run; the targets; a snapshot of their case-number counters."""
    version = check_ready()
    department_key, targets = choose_targets(max_items=max_items)
    password = f"Bench-{secrets.token_urlsafe(18)}"
    # One hash for every bench login: PBKDF2 costs a quarter of a second per call.
    encoded = make_password(password)
    schemas = dict(
        Scenario.objects.filter(pk__in={t.scenario_id for t in targets}).values_list(
            "pk", "form_schema"
        )
    )
    first = targets[0]
    people = []
    with transaction.atomic():
        for index in range(citizens):
            id_number = _citizen_id_number(index)
            form = _form(index, id_number=id_number)
            person = person_find_by_id_number(id_number=id_number)
            if person is None:
                try:
                    person = account_services.person_sign_up(
                        name=form["applicant_name"],
                        id_number=id_number,
                        phone=form["phone"],
                        password=password,
                    )
                except DomainError as error:
                    raise BenchError(f"cannot create bench citizen {index}: {error}") from None
            if person.name != form["applicant_name"] or person.user is None:
                raise BenchError(
                    f"the ID number of bench citizen {index} belongs to someone else on this "
                    "node: not touching it"
                )
            # Items ask for a real-name level; the bench's synthetic citizens are given the
            # highest through the window's service (recorded as such), not by a raw update.
            account_services.person_verify_in_person(
                actor=SYSTEM,
                person=person,
                document_checked="resident_id_card",
                note="bench citizen (synthetic)",
            )
            people.append(
                Citizen(
                    person_id=person.pk,
                    user_id=person.user.pk,
                    username=person.user.get_username(),
                    phone=form["phone"],
                    form=form,
                    stored_forms={pk: protect(schema, form) for pk, schema in schemas.items()},
                )
            )
        reviewer = _reviewer(department_key, first.division, password)
        User.objects.filter(pk__in=[p.user_id for p in people] + [reviewer.user_id]).update(
            password=encoded, is_active=True
        )
    prefixes = {t.number_prefix for t in targets}
    sequences = {
        (row.prefix, row.day): row.last for row in CaseSequence.objects.filter(prefix__in=prefixes)
    }
    return Setup(
        vendor=connection.vendor,
        catalogue_version=version,
        department=department_key,
        targets=targets,
        citizens=people,
        reviewer=reviewer,
        password=password,
        sequences=sequences,
    )


def _reviewer(department_key: str, division: str, password: str) -> Reviewer:
    username = f"{REVIEWER_PREFIX}{department_key}"[:150]
    staff = Staff.objects.filter(user__username=username).first()
    if staff is None:
        try:
            staff = account_services.staff_create(
                actor=SYSTEM,
                username=username,
                password=password,
                name="压测审核员",
                employee_number=f"BENCH-{secrets.token_hex(4).upper()}",
                department_key=department_key,
                jurisdiction_code=division,
                roles=[StaffRole.REVIEWER],
            )
        except DomainError as error:
            raise BenchError(f"cannot create the bench reviewer {username}: {error}") from None
    if (
        staff.department.key != department_key
        or staff.jurisdiction_id != division
        or not staff.has_role(StaffRole.REVIEWER)
    ):
        raise BenchError(
            f"{username} exists but is not an active reviewer of {department_key} in {division}"
        )
    # A new secret each run, so the code it signs in with has never been used.
    otp_key = secrets.token_hex(20)
    account_services.staff_otp_install(actor=SYSTEM, user=staff.user, key_hex=otp_key)
    return Reviewer(user_id=staff.user_id, staff_id=staff.pk, username=username, otp_key=otp_key)


def lock_accounts(setup: Setup) -> None:
    """Bench logins never keep a usable password between runs."""
    User.objects.filter(pk__in=setup.user_ids).update(password=make_password(None))


def _bench_cases(setup: Setup) -> models.QuerySet[Case]:
    return Case.objects.filter(
        Q(applicant_person_id__in=[c.person_id for c in setup.citizens])
        | Q(number__startswith=RAW_PREFIX)
    )


def cleanup(setup: Setup) -> dict[str, int]:
    """Delete every bench case with whatever hangs off it, and put the daily case-number
    counters back where they were (or where the node's own cases since have taken them)."""
    deleted: Counter[str] = Counter()
    bench = _bench_cases(setup)
    ids = bench.values("pk")
    with transaction.atomic():
        for relation in Case._meta.related_objects:
            related = relation.related_model
            assert isinstance(related, type)
            _count, by_model = related._default_manager.filter(
                **{f"{relation.field.name}__in": ids}
            ).delete()
            deleted.update(by_model)
        _count, by_model = bench.delete()
        deleted.update(by_model)
        prefixes = {t.number_prefix for t in setup.targets}
        for row in CaseSequence.objects.select_for_update().filter(prefix__in=prefixes):
            before = setup.sequences.get((row.prefix, row.day))
            newest = (
                Case.objects.filter(number__startswith=f"{row.prefix}{row.day:%Y%m%d}")
                .order_by("-number")
                .values_list("number", flat=True)
                .first()
            )
            used = int(newest[-4:]) if newest else 0
            if before is None and not used:
                row.delete()
            elif row.last != max(before or 0, used):
                row.last = max(before or 0, used)
                row.save(update_fields=["last"])
        CaseSequence.objects.filter(prefix__startswith=RAW_PREFIX).delete()
    return {
        "cases": deleted.get(Case._meta.label, 0),
        "events": deleted.get(CaseEvent._meta.label, 0),
        "other": sum(deleted.values())
        - deleted.get(Case._meta.label, 0)
        - deleted.get(CaseEvent._meta.label, 0),
    }


def leftovers(setup: Setup) -> int:
    """Bench cases still in the database (none after ``cleanup``)."""
    return _bench_cases(setup).count()


# A lean HTTP/1.1 client ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class HttpClient:
    """One keep-alive connection. Lean on purpose: the load generator shares the machine's cores
    with the server and the database, and http.client costs several times more per request."""

    def __init__(self, base_url: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise BenchError(f"not an http(s) URL: {base_url}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.authority = parts.netloc
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def close(self) -> None:
        if self._sock is not None:
            with suppress(OSError):
                self._reader.close()
                self._sock.close()
        self._sock = self._reader = None

    def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> Reply:
        """``headers`` are extra header lines, each ending in CRLF."""
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            self._sock, self._reader = sock, sock.makefile("rb")
        head = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.authority}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        )
        try:
            self._sock.sendall(head.encode("latin-1") + body)
            reply, keep = self._read()
        except (OSError, ValueError, IndexError):
            self.close()
            raise
        if not keep:
            self.close()
        return reply

    def _read(self) -> tuple[Reply, bool]:
        reader = self._reader
        status_line = reader.readline(65537)
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(None, 2)[1])
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        keep = status_line.startswith(b"HTTP/1.1")
        while True:
            line = reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection":
                keep = value.lower() != "close"
        if chunked:
            parts = []
            while size := int(reader.readline(65537).split(b";")[0], 16):
                parts.append(reader.read(size))
                reader.readline(65537)
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            body = b"".join(parts)
        elif length is not None:
            body = reader.read(length)
            if len(body) != length:
                raise ConnectionError("the server closed the connection mid-reply")
        else:
            body, keep = reader.read(), False
        return Reply(status, headers, body), keep


@dataclass(frozen=True)
class Login:
    cookie: str
    csrf: str

    @cached_property
    def headers(self) -> str:
        # CSRF_HEADER_NAME is the WSGI name (HTTP_X_CSRFTOKEN) of the X-CSRFToken header.
        header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")
        return f"Cookie: {self.cookie}\r\n{header}: {self.csrf}\r\n"


def log_in(base_url: str, username: str, password: str, *, otp_key: str = "") -> Login:
    client = HttpClient(base_url)
    body = {"username": username, "password": password}
    if otp_key:
        body["otp_code"] = totp_code(otp_key)
    try:
        reply = client.request("POST", "/api/v1/accounts/login", json.dumps(body).encode())
    except OSError as error:
        raise BenchError(f"cannot reach {base_url}: {error}") from None
    finally:
        client.close()
    if reply.status != 200:
        raise BenchError(
            f"{username} cannot log in at {base_url}: HTTP {reply.status} "
            f"{reply.body[:200].decode(errors='replace')}"
        )
    cookies = dict(
        value.split(";", 1)[0].strip().partition("=")[::2]
        for value in reply.header_values("set-cookie")
    )
    session, csrf = settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME
    if session not in cookies or csrf not in cookies:
        raise BenchError(f"the login at {base_url} set no session and CSRF cookies")
    return Login(cookie=f"{session}={cookies[session]}; {csrf}={cookies[csrf]}", csrf=cookies[csrf])


def log_out(base_url: str, login: Login) -> None:
    client = HttpClient(base_url)
    with suppress(OSError):
        client.request("POST", "/api/v1/accounts/logout", b"", login.headers)
    client.close()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if process is not None and process.poll() is not None:
            raise BenchError(f"the web server exited with code {process.returncode}{_tail(log)}")
        client = HttpClient(base_url, timeout=2)
        try:
            if client.request("GET", "/healthz").status == 200:
                return
        except OSError:
            pass
        finally:
            client.close()
        if time.monotonic() > deadline:
            raise BenchError(f"no answer from {base_url}healthz within 60 s{_tail(log)}")
        time.sleep(0.2)


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return f"; its log ({log}) ends:\n{log.read_text(errors='replace')[-2000:]}"


@dataclass
class Server:
    url: str
    pid: int | None
    workers: int | None
    threads: int | None
    log: Path | None


@contextmanager
def serving(*, workers: int, threads: int) -> Iterator[Server]:
    """The node's web server (as `tongban serve` starts it, without the background worker) on a
    free loopback port; stopped, with every process it started, however the block ends."""
    from tongban.ops.management.commands.serve import web_command

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    run_dir = settings.TONGBAN_DATA_DIR / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "bench-serve.log"
    # Its own metrics directory: a `tongban serve` of this node may be using the shared one.
    metrics_dir = Path(tempfile.mkdtemp(prefix="tongban-bench-metrics-"))
    env = dict(os.environ)
    env |= {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # Measure the node as it runs in production: no debug bookkeeping per query.
        "TONGBAN_DEBUG": "0",
        "TONGBAN_ALLOWED_HOSTS": "127.0.0.1",
    }
    env.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings.dev")
    argv = web_command(host="127.0.0.1", port=port, workers=workers, threads=threads)
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, process, log)
        yield Server(url=url, pid=process.pid, workers=workers, threads=threads, log=log)
    finally:
        _stop(process)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    # The server's own workers are in its process group (a new session): none may outlive it.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


# Measuring ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def latency_summary(values: Sequence[float]) -> dict[str, float | int]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values, default=0.0) * 1000, 2),
    }


@dataclass
class Recorder:
    """What one client thread saw (threads never share one: no locking on the hot path)."""

    submit: list[float] = field(default_factory=list)
    accept: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, what: str, detail: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(f"{what}: {detail}"[:300])


@dataclass
class CpuSample:
    wall: float
    busy: float  # whole machine, seconds
    interrupts: float  # of which hard and soft interrupts (loopback networking, disk), no process
    own: float
    server: float
    database: float


_CLOCK_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_sample(server_pgid: int | None) -> CpuSample | None:
    """CPU seconds used so far by the machine, this process, the web server's process group and
    the PostgreSQL processes (Linux /proc; None elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is already within user).
    ticks = [int(value) for value in fields[:8]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    interrupts = ticks[5] + ticks[6]
    server = database = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        rest = stat[stat.rfind(")") + 2 :].split()
        used = int(rest[11]) + int(rest[12])
        if server_pgid is not None and int(rest[2]) == server_pgid:
            server += used
        elif name == "postgres":
            database += used
    times = os.times()
    return CpuSample(
        wall=time.monotonic(),
        busy=busy / _CLOCK_TICK,
        interrupts=interrupts / _CLOCK_TICK,
        own=times.user + times.system,
        server=server / _CLOCK_TICK,
        database=database / _CLOCK_TICK,
    )


def machine_busy(seconds: float = 0.5) -> float | None:
    """Cores busy on average over the next ``seconds``, before the bench adds its own load."""
    before = cpu_sample(None)
    time.sleep(seconds)
    after = cpu_sample(None)
    if before is None or after is None:
        return None
    return round((after.busy - before.busy) / (after.wall - before.wall), 2)


def cpu_cores(before: CpuSample | None, after: CpuSample | None) -> dict[str, float] | None:
    """Cores busy on average between two samples, by whom."""
    if before is None or after is None or after.wall <= before.wall:
        return None
    wall = after.wall - before.wall

    def cores(a: float, b: float) -> float:
        return round(max(0.0, b - a) / wall, 2)

    result = {
        "machine": cores(before.busy, after.busy),
        "load_generator": cores(before.own, after.own),
        "server": cores(before.server, after.server),
        "database": cores(before.database, after.database),
        "interrupts": cores(before.interrupts, after.interrupts),
    }
    # Other programs (large values spoil the figures) and kernel threads.
    known = sum(value for key, value in result.items() if key != "machine")
    result["other"] = round(max(0.0, result["machine"] - known), 2)
    result["cores"] = float(os.cpu_count() or 1)
    return result


@dataclass
class Phase:
    name: str
    seconds: float
    recorders: list[Recorder]
    cpu: dict[str, float] | None = None
    asked_per_s: float | None = None

    @property
    def submit(self) -> list[float]:
        return [v for r in self.recorders for v in r.submit]

    @property
    def accept(self) -> list[float]:
        return [v for r in self.recorders for v in r.accept]

    @property
    def transitions(self) -> int:
        return sum(len(r.submit) + len(r.accept) for r in self.recorders)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.recorders)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.recorders)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def per_s(self) -> float:
        return self.transitions / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "seconds": round(self.seconds, 3),
            "cases": sum(len(r.submit) for r in self.recorders),
            "transitions": self.transitions,
            "transitions_per_s": round(self.per_s, 1),
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "error_samples": [s for r in self.recorders for s in r.samples][:5],
            "submit": latency_summary(self.submit),
            "accept": latency_summary(self.accept),
            "all": latency_summary(self.submit + self.accept),
            "cpu": self.cpu,
        }
        if self.asked_per_s is not None:
            result["asked_per_s"] = round(self.asked_per_s, 1)
        return result


def _run_threads(
    count: int, work: Callable[[int, Recorder], None], stop: threading.Event
) -> tuple[list[Recorder], float]:
    recorders = [Recorder() for _ in range(count)]

    def guarded(thread: int, record: Recorder) -> None:
        try:
            work(thread, record)
        except Exception as error:  # counted, never a silently dead client
            record.fail("client", repr(error))

    threads = [
        threading.Thread(target=guarded, args=(i, recorders[i]), daemon=True, name=f"bench-{i}")
        for i in range(count)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT)
        raise
    return recorders, time.perf_counter() - started


@dataclass
class HttpPlan:
    """Pre-encoded request bodies and logins for the load threads."""

    base_url: str
    citizens: list[Login]
    reviewer: Login
    bodies: list[list[bytes]]  # [citizen][target]

    def pair(self, thread: int, turn: int) -> tuple[bytes, Login]:
        citizen = thread % len(self.citizens)
        targets = self.bodies[citizen]
        return targets[(thread + turn) % len(targets)], self.citizens[citizen]


def plan_http(setup: Setup, base_url: str, *, concurrency: int) -> HttpPlan:
    """Log the bench accounts in, ``concurrency`` at a time (each login verifies a PBKDF2 hash,
    a quarter of a second of CPU)."""
    usernames = [c.phone for c in setup.citizens] + [setup.reviewer.username]
    keys = {setup.reviewer.username: setup.reviewer.otp_key}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-login") as pool:
        logins = dict(
            zip(
                usernames,
                pool.map(
                    lambda name: log_in(base_url, name, setup.password, otp_key=keys.get(name, "")),
                    usernames,
                ),
                strict=True,
            )
        )
    bodies = [
        [
            json.dumps(
                {
                    "item_code": target.item_code,
                    "scenario_key": target.scenario_key,
                    "authority_division": target.division,
                    "form_data": citizen.form,
                    "mode": CaseMode.ONLINE.value,
                },
                ensure_ascii=False,
            ).encode()
            for target in setup.targets
        ]
        for citizen in setup.citizens
    ]
    return HttpPlan(
        base_url=base_url,
        citizens=[logins[c.phone] for c in setup.citizens],
        reviewer=logins[setup.reviewer.username],
        bodies=bodies,
    )


def _http_pair(
    client: HttpClient, plan: HttpPlan, record: Recorder, thread: int, turn: int, due: float
) -> None:
    """Submit one case and accept it; latencies from ``due`` and from the submit's reply."""
    body, citizen = plan.pair(thread, turn)
    record.requests += 1
    try:
        reply = client.request("POST", "/api/v1/cases", body, citizen.headers)
        submitted = time.perf_counter()
        number = json.loads(reply.body)["number"] if reply.status == 201 else None
    except (OSError, ValueError, LookupError) as error:  # no connection, or a garbled reply
        record.fail("submit", repr(error))
        return
    if number is None:
        record.fail("submit", f"HTTP {reply.status} {reply.body[:200].decode(errors='replace')}")
        return
    record.submit.append(submitted - due)
    record.requests += 1
    try:
        reply = client.request(
            "POST", f"/api/v1/cases/{number}/actions/accept", b"{}", plan.reviewer.headers
        )
    except (OSError, ValueError, LookupError) as error:
        record.fail("accept", repr(error))
        return
    if reply.status != 200:
        record.fail("accept", f"HTTP {reply.status} {reply.body[:200].decode(errors='replace')}")
        return
    record.accept.append(time.perf_counter() - submitted)


def http_closed_loop(
    plan: HttpPlan,
    *,
    concurrency: int,
    seconds: float,
    cases: int | None,
    stop: threading.Event,
    server_pgid: int | None = None,
) -> Phase:
    """``concurrency`` clients submitting and accepting as fast as the server lets them."""
    tickets = itertools.count()
    deadline = time.perf_counter() + seconds

    def work(thread: int, record: Recorder) -> None:
        client = HttpClient(plan.base_url)
        try:
            for turn in itertools.count():
                if stop.is_set():
                    break
                if cases is not None:
                    if next(tickets) >= cases:
                        break
                elif time.perf_counter() >= deadline:
                    break
                _http_pair(client, plan, record, thread, turn, time.perf_counter())
        finally:
            client.close()

    before = cpu_sample(server_pgid)
    recorders, elapsed = _run_threads(concurrency, work, stop)
    return Phase("http", elapsed, recorders, cpu_cores(before, cpu_sample(server_pgid)))


def http_paced(
    plan: HttpPlan,
    *,
    per_s: float,
    clients: int,
    seconds: float,
    cases: int | None,
    stop: threading.Event,
    server_pgid: int | None = None,
) -> Phase:
    """Open loop: a case is due every 2/``per_s`` seconds (two transitions each), whatever the
    earlier ones are doing; its submit's latency counts from when it was due."""
    pairs_per_s = per_s / 2
    total = cases if cases is not None else max(1, int(pairs_per_s * seconds))
    tickets = itertools.count()
    start = time.perf_counter() + 0.05

    def work(thread: int, record: Recorder) -> None:
        client = HttpClient(plan.base_url)
        try:
            while not stop.is_set():
                ticket = next(tickets)
                if ticket >= total:
                    break
                due = start + ticket / pairs_per_s
                delay = due - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    break
                _http_pair(client, plan, record, thread, ticket, due)
        finally:
            client.close()

    before = cpu_sample(server_pgid)
    recorders, elapsed = _run_threads(clients, work, stop)
    return Phase(
        "paced",
        elapsed,
        recorders,
        cpu_cores(before, cpu_sample(server_pgid)),
        asked_per_s=per_s,
    )


# The same writes as raw SQL -----------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(model: type[models.Model], name: str) -> str:
    column = model._meta.get_field(name).column  # type: ignore[union-attr]
    assert column is not None
    return _quote(column)


class RawWriter:
    """One connection of its own (psycopg or sqlite3, not Django's) doing transitions the way
    the case service does, each in its own transaction, committed durably."""

    def __init__(self, setup: Setup, settings_dict: Mapping[str, Any], thread: int) -> None:
        self.setup = setup
        self.thread = thread
        self.vendor = setup.vendor
        self.tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        flow = workflow.load("online")
        self.initial = flow.initial
        target_state = flow.actions["accept"].target
        assert target_state is not None
        self.accepted = target_state
        self._conn: Any
        if self.vendor == "postgresql":
            import psycopg

            self._conn = psycopg.connect(**_psycopg_params(settings_dict))
            self._jsonb = _psycopg_jsonb()
        elif self.vendor == "sqlite":
            name = str(settings_dict["NAME"])
            self._conn = sqlite3.connect(
                name,
                uri=name.startswith("file:"),
                isolation_level=None,
                check_same_thread=False,
                timeout=float(settings_dict.get("OPTIONS", {}).get("timeout", 20)),
            )
            for pragma in str(settings_dict.get("OPTIONS", {}).get("init_command", "")).split(";"):
                if pragma.strip():
                    self._conn.execute(pragma)
        else:
            raise BenchError(f"the raw SQL part knows PostgreSQL and SQLite, not {self.vendor}")
        self.sql = _raw_statements(self.vendor)

    def close(self) -> None:
        with suppress(Exception):
            self._conn.close()

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        return self._conn.execute(sql, params).fetchone()

    def _begin(self) -> None:
        if self.vendor == "sqlite":
            self._conn.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self.vendor == "sqlite":
            self._conn.execute("COMMIT")
        else:
            self._conn.commit()

    def _rollback(self) -> None:
        with suppress(Exception):
            if self.vendor == "sqlite":
                self._conn.execute("ROLLBACK")
            else:
                self._conn.rollback()

    def _ts(self, value: dt.datetime) -> Any:
        # Django keeps SQLite datetimes as naive UTC text; PostgreSQL takes the aware value.
        if self.vendor == "sqlite":
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        return value

    def _date(self, value: dt.date) -> Any:
        return value.isoformat() if self.vendor == "sqlite" else value

    def _uuid(self, value: uuid.UUID) -> Any:
        # Django keeps SQLite UUIDs as 32 hex digits; PostgreSQL has a uuid type.
        return value.hex if self.vendor == "sqlite" else value

    def _json(self, value: Any) -> Any:
        return json.dumps(value) if self.vendor == "sqlite" else self._jsonb(value)

    def _event(
        self,
        *,
        case_id: int,
        number: str,
        seq: int,
        actor: tuple[int, str],
        role: str,
        action: str,
        from_state: str,
        to_state: str,
        payload: dict[str, Any],
        previous: str,
    ) -> None:
        at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = {
            "case": number,
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor[1],
            "role": role,
            "action": action,
            "from": from_state,
            "to": to_state,
            "payload": payload,
        }
        self._conn.execute(
            self.sql["event"],
            (
                case_id,
                seq,
                self._ts(at),
                actor[0],
                actor[1],
                role,
                action,
                from_state,
                to_state,
                self._json(payload),
                previous,
                chain.link_hash(previous, body),
            ),
        )

    def submit(self, turn: int) -> tuple[int, str]:
        setup = self.setup
        citizen = setup.citizens[self.thread % len(setup.citizens)]
        index = (self.thread + turn) % len(setup.targets)
        target = setup.targets[index]
        now = dt.datetime.now(dt.UTC)
        today = now.astimezone(self.tz).date()
        prefix = f"{RAW_PREFIX}{index}"
        self._begin()
        try:
            (last,) = self._one(self.sql["sequence"], (prefix, self._date(today)))
            number = f"{prefix}{today:%Y%m%d}{last:06d}"
            (case_id,) = self._one(
                self.sql["case"],
                (
                    number,
                    "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8)),
                    target.item_id,
                    target.scenario_id,
                    target.implementation_id,
                    CaseMode.ONLINE.value,
                    "online",
                    self.initial,
                    citizen.person_id,
                    self._json(citizen.stored_forms[target.scenario_id]),
                    settings.TONGBAN_NODE_CODE,
                    target.division,
                    target.department_id,
                    self._ts(now),
                    self._date(today),
                    0,
                    self._ts(now),
                    self._ts(now),
                    self._uuid(uuid.uuid4()),
                    "",
                    "",
                    "",
                    self._json([]),
                ),
            )
            self._event(
                case_id=case_id,
                number=number,
                seq=1,
                actor=(citizen.user_id, citizen.username),
                role="applicant",
                action="submit",
                from_state="",
                to_state=self.initial,
                payload={
                    "mode": CaseMode.ONLINE.value,
                    "version": setup.catalogue_version,
                    "scenario": target.scenario_key,
                },
                previous=chain.GENESIS,
            )
            self._commit()
        except BaseException:
            self._rollback()
            raise
        return case_id, number

    def accept(self, case_id: int, number: str, turn: int) -> None:
        setup = self.setup
        target = setup.targets[(self.thread + turn) % len(setup.targets)]
        now = dt.datetime.now(dt.UTC)
        today = now.astimezone(self.tz).date()
        self._begin()
        try:
            (state,) = self._one(self.sql["lock"], (case_id,))
            if state != self.initial:
                raise BenchError(f"raw case {number} is {state}, not {self.initial}")
            seq, previous = self._one(self.sql["head"], (case_id,))
            self._conn.execute(
                self.sql["accept"],
                (
                    self.accepted,
                    self._date(today),
                    target.legal_days,
                    target.promised_days,
                    setup.reviewer.staff_id,
                    self._ts(now),
                    case_id,
                ),
            )
            self._event(
                case_id=case_id,
                number=number,
                seq=seq + 1,
                actor=(setup.reviewer.user_id, setup.reviewer.username),
                role=StaffRole.REVIEWER.value,
                action="accept",
                from_state=self.initial,
                to_state=self.accepted,
                payload={"legal_days": target.legal_days, "promised_days": target.promised_days},
                previous=previous,
            )
            self._commit()
        except BaseException:
            self._rollback()
            raise


def _psycopg_jsonb() -> Callable[[Any], Any]:
    from psycopg.types.json import Jsonb

    return Jsonb


def _psycopg_params(settings_dict: Mapping[str, Any]) -> dict[str, Any]:
    """libpq parameters from Django's settings, leaving out the options only Django reads."""
    django_only = {"isolation_level", "server_side_binding", "pool", "assume_role"}
    params: dict[str, Any] = {
        key: value
        for key, value in dict(settings_dict.get("OPTIONS") or {}).items()
        if key not in django_only
    }
    for key, name in (
        ("NAME", "dbname"),
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    params["autocommit"] = False
    return params


# Columns the raw INSERT of a case fills, in this order (see RawWriter.submit).
_CASE_COLUMNS = (
    "number",
    "query_code",
    "item",
    "scenario",
    "implementation",
    "mode",
    "workflow",
    "state",
    "applicant_person",
    "form_data",
    "receiving_division",
    "authority_division",
    "authority_department",
    "submitted_at",
    "received_on",
    "extension_days",
    "created_at",
    "updated_at",
    "uid",
    "authority_node",
    "receiving_node",
    "remote_number",
    "peers",
)
_EVENT_COLUMNS = (
    "case",
    "seq",
    "at",
    "actor",
    "actor_label",
    "role",
    "action",
    "from_state",
    "to_state",
    "payload",
    "prev_hash",
    "hash",
)


def _raw_statements(vendor: str) -> dict[str, str]:
    """The statements, with table and column names from the models (placeholders per driver)."""
    mark = "%s" if vendor == "postgresql" else "?"
    for model, filled in ((Case, _CASE_COLUMNS), (CaseEvent, _EVENT_COLUMNS)):
        for model_field in model._meta.concrete_fields:
            if model_field.primary_key or model_field.name in filled or model_field.null:
                continue
            raise BenchError(
                f"the raw SQL part does not fill {model._meta.label}.{model_field.name}: "
                "teach tongban/ops/bench_cases.py about it"
            )

    def insert(model: type[models.Model], names: Sequence[str]) -> str:
        columns = ", ".join(_column(model, name) for name in names)
        marks = ", ".join(mark for _ in names)
        table = _quote(model._meta.db_table)
        return f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608

    case = _quote(Case._meta.db_table)
    event = _quote(CaseEvent._meta.db_table)
    sequence = _quote(CaseSequence._meta.db_table)
    pk = _column(Case, "id")
    last = _column(CaseSequence, "last")
    prefix, day = _column(CaseSequence, "prefix"), _column(CaseSequence, "day")
    event_case, event_seq = _column(CaseEvent, "case"), _column(CaseEvent, "seq")
    accept_columns = ("state", "accepted_on", "legal_days", "promised_days", "assignee")
    assignments = ", ".join(
        f"{_column(Case, name)} = {mark}" for name in (*accept_columns, "updated_at")
    )
    state, head_hash = _column(Case, "state"), _column(CaseEvent, "hash")
    lock = " FOR UPDATE" if vendor == "postgresql" else ""  # SQLite: BEGIN IMMEDIATE locks
    upsert = (
        f"VALUES ({mark}, {mark}, 1) ON CONFLICT ({prefix}, {day}) "
        f"DO UPDATE SET {last} = {sequence}.{last} + 1 RETURNING {last}"
    )
    # Identifiers come from the models' metadata (quoted); values always go as parameters.
    return {
        # One statement where the service needs three (lock, increment, read back).
        "sequence": f"INSERT INTO {sequence} ({prefix}, {day}, {last}) {upsert}",
        "case": f"{insert(Case, _CASE_COLUMNS)} RETURNING {pk}",
        "event": insert(CaseEvent, _EVENT_COLUMNS),
        "lock": f"SELECT {state} FROM {case} WHERE {pk} = {mark}{lock}",  # noqa: S608
        "head": (
            f"SELECT {event_seq}, {head_hash} FROM {event} "  # noqa: S608
            f"WHERE {event_case} = {mark} ORDER BY {event_seq} DESC LIMIT 1"
        ),
        "accept": f"UPDATE {case} SET {assignments} WHERE {pk} = {mark}",  # noqa: S608
    }


def raw_closed_loop(
    setup: Setup, *, concurrency: int, seconds: float, cases: int | None, stop: threading.Event
) -> Phase:
    """The same transitions as the HTTP phase, straight to the database."""
    settings_dict = dict(connection.settings_dict)
    tickets = itertools.count()
    deadline = time.perf_counter() + seconds
    writers: list[RawWriter] = []
    try:
        for thread in range(concurrency):
            writers.append(RawWriter(setup, settings_dict, thread))
    except Exception as error:
        for writer in writers:
            writer.close()
        raise BenchError(f"cannot open a raw database connection: {error}") from None

    def work(thread: int, record: Recorder) -> None:
        writer = writers[thread]
        for turn in itertools.count():
            if stop.is_set():
                break
            if cases is not None:
                if next(tickets) >= cases:
                    break
            elif time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            record.requests += 1
            try:
                case_id, number = writer.submit(turn)
            except Exception as error:
                record.fail("submit", repr(error))
                continue
            submitted = time.perf_counter()
            record.submit.append(submitted - started)
            record.requests += 1
            try:
                writer.accept(case_id, number, turn)
            except Exception as error:
                record.fail("accept", repr(error))
                continue
            record.accept.append(time.perf_counter() - submitted)

    before = cpu_sample(None)
    try:
        recorders, elapsed = _run_threads(concurrency, work, stop)
    finally:
        for writer in writers:
            writer.close()
    return Phase("raw", elapsed, recorders, cpu_cores(before, cpu_sample(None)))


# The whole run ------------------------------------------------------------------------------


@dataclass
class Options:
    url: str | None = None
    concurrency: int = 8
    paced_concurrency: int | None = None
    seconds: float = 10.0
    cases: int | None = None
    warmup: float = 2.0
    workers: int = 2
    threads: int = 5
    items: int | None = None


@dataclass
class Report:
    setup: Setup
    server: Server
    http: Phase
    paced: Phase | None
    raw: Phase
    cleanup: dict[str, int]
    database: dict[str, str]
    busy_before: float | None = None  # cores busy before the bench started anything

    @property
    def ratio(self) -> float:
        return self.http.per_s / self.raw.per_s if self.raw.per_s else 0.0

    @property
    def problems(self) -> list[str]:
        found = []
        for phase in (self.http, self.paced, self.raw):
            if phase is None:
                continue
            if phase.transitions == 0:
                found.append(f"{phase.name}: no transition succeeded")
            elif phase.error_rate > MAX_ERROR_RATE:
                found.append(
                    f"{phase.name}: {phase.errors} of {phase.requests} requests failed "
                    f"({phase.error_rate:.1%}), e.g. {'; '.join(phase.as_json()['error_samples'])}"
                )
        return found

    def as_json(self) -> dict[str, Any]:
        paced = self.paced.as_json() if self.paced else None
        return {
            "database": self.database,
            "server": {
                "url": self.server.url,
                "started_here": self.server.pid is not None,
                "workers": self.server.workers,
                "threads": self.server.threads,
            },
            "catalogue": {
                "version": self.setup.catalogue_version,
                "department": self.setup.department,
                "items": [t.item_code for t in self.setup.targets],
            },
            "concurrency": len(self.http.recorders),
            "machine_busy_before": self.busy_before,
            "http": self.http.as_json(),
            "paced": paced,
            "raw": self.raw.as_json(),
            "ratio_http_to_raw": round(self.ratio, 3),
            "goals": {
                "transitions_per_s": GOAL_TRANSITIONS_PER_S,
                "paced_p99_ms": GOAL_PACED_P99_MS,
            },
            "met": {
                "transitions_per_s": self.http.per_s >= GOAL_TRANSITIONS_PER_S,
                "paced_p99_ms": paced is not None and paced["all"]["p99_ms"] <= GOAL_PACED_P99_MS,
            },
            "cleanup": self.cleanup,
            "problems": self.problems,
        }


def database_info() -> dict[str, str]:
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        number = int(getattr(connection, "pg_version", 0) or 0)
        version = f"{number // 10000}.{number % 10000}" if number else ""
        where = f"{settings_dict.get('NAME')} on {settings_dict.get('HOST') or 'local socket'}"
    else:
        version, where = sqlite3.sqlite_version, str(settings_dict.get("NAME"))
    return {"vendor": connection.vendor, "version": version, "name": where}


def run(options: Options, *, progress: Callable[[str], None] = lambda _line: None) -> Report:
    """Set up, measure HTTP (closed loop, then paced), measure raw SQL, clean up."""
    connection.ensure_connection()
    setup = prepare(citizens=max(1, options.concurrency), max_items=options.items)
    # Cases an interrupted earlier run left behind.
    cleanup(setup)
    busy_before = machine_busy()
    stop = threading.Event()
    try:
        with _server(options) as server:
            progress(f"server {server.url}: logging the bench accounts in")
            plan = plan_http(setup, server.url, concurrency=options.concurrency)
            try:
                if options.warmup > 0:
                    progress(f"warming up for {options.warmup:g} s")
                    http_closed_loop(
                        plan,
                        concurrency=options.concurrency,
                        seconds=options.warmup,
                        cases=None,
                        stop=stop,
                    )
                progress(f"HTTP: {options.concurrency} client(s), as fast as possible")
                http = http_closed_loop(
                    plan,
                    concurrency=options.concurrency,
                    seconds=options.seconds,
                    cases=options.cases,
                    stop=stop,
                    server_pgid=server.pid,
                )
                paced = None
                if http.per_s > 0:
                    progress(f"HTTP: paced at {http.per_s / 2:.0f} transitions/s")
                    paced = http_paced(
                        plan,
                        per_s=http.per_s / 2,
                        clients=options.paced_concurrency or 2 * options.concurrency,
                        seconds=options.seconds,
                        cases=options.cases,
                        stop=stop,
                        server_pgid=server.pid,
                    )
            finally:
                for login in (*plan.citizens, plan.reviewer):
                    log_out(server.url, login)
        progress(f"raw SQL: {options.concurrency} connection(s)")
        raw = raw_closed_loop(
            setup,
            concurrency=options.concurrency,
            seconds=options.seconds,
            cases=options.cases,
            stop=stop,
        )
    finally:
        stop.set()
        lock_accounts(setup)
        removed = cleanup(setup)
    return Report(
        setup=setup,
        server=server,
        http=http,
        paced=paced,
        raw=raw,
        cleanup=removed,
        database=database_info(),
        busy_before=busy_before,
    )


@contextmanager
def _server(options: Options) -> Iterator[Server]:
    if options.url:
        url = options.url if options.url.endswith("/") else options.url + "/"
        wait_until_up(url, None, None)
        yield Server(url=url, pid=None, workers=None, threads=None, log=None)
    else:
        with serving(workers=options.workers, threads=options.threads) as server:
            yield server
