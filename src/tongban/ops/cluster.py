"""A local federation on this machine: the hub and provincial nodes as separate processes, each
with its own data directory, database, port, keys and worker, enrolled through the hub's trust
list (`tongban cluster up|status|verify|down`).

Every node is driven through the same `tongban` commands an operator would run; the cluster
layout is kept in ``$TONGBAN_DATA_DIR/cluster/cluster.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HUB = "100000"
DEFAULT_NODES = (HUB, "500000", "510000")
READY_TIMEOUT = 60.0


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Member:
    code: str
    port: int
    data_dir: str
    database_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_hub(self) -> bool:
        return self.code == HUB


@dataclass(frozen=True)
class Layout:
    root: str
    members: tuple[Member, ...]

    @property
    def hub(self) -> Member:
        return next(m for m in self.members if m.is_hub)

    def save(self) -> None:
        path = Path(self.root) / "cluster.json"
        path.write_text(
            json.dumps({"members": [asdict(m) for m in self.members]}, indent=2), encoding="utf-8"
        )

    @classmethod
    def load(cls, root: Path) -> Layout:
        path = root / "cluster.json"
        if not path.exists():
            raise ClusterError(f"no cluster under {root}; run `tongban cluster up` first")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(str(root), tuple(Member(**m) for m in data["members"]))


def plan(root: Path, codes: list[str], base_port: int, postgres_url: str | None) -> Layout:
    if HUB not in codes:
        codes = [HUB, *codes]
    codes = [HUB] + [c for c in dict.fromkeys(codes) if c != HUB]
    for code in codes:
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise ClusterError(f"not a node code: {code!r}")
    members = []
    for index, code in enumerate(codes):
        database = ""
        if postgres_url:
            database = f"{postgres_url.rstrip('/')}/tongban_cluster_{code}"
        members.append(Member(code, base_port + index, str(root / code), database))
    return Layout(str(root), tuple(members))


def environment(member: Member, layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TONGBAN_DATA_DIR": member.data_dir,
            "TONGBAN_NODE_CODE": member.code,
            "TONGBAN_NODE_URL": member.url,
            "TONGBAN_HUB_URL": "" if member.is_hub else layout.hub.url,
            "DATABASE_URL": member.database_url,
            "DJANGO_SETTINGS_MODULE": "tongban.settings.dev",
        }
    )
    for name in ("TONGBAN_NODE_KEY_DIR", "TONGBAN_HUB_KEYS_FILE", "TONGBAN_PII_KEY_FILE"):
        env.pop(name, None)  # each node's own, under its data directory
    return env


def tongban(member: Member, layout: Layout, *args: str, check: bool = True) -> str:
    """Run a `tongban` command as this node; its output."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "tongban", *args],
        env=environment(member, layout),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise ClusterError(
            f"{member.code}: tongban {' '.join(args)} failed:\n{result.stderr or result.stdout}"
        )
    return result.stdout


def create_databases(layout: Layout, admin_url: str) -> None:
    import psycopg

    with psycopg.connect(f"{admin_url.rstrip('/')}/postgres", autocommit=True) as connection:
        for member in layout.members:
            name = member.database_url.rsplit("/", 1)[1]
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')


def _pid_file(member: Member) -> Path:
    return Path(member.data_dir) / "serve.pid"


def pid_of(member: Member) -> int | None:
    try:
        pid = int(_pid_file(member).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


def healthy(member: Member, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{member.url}/healthz", timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return bool(body.get("status") == "ok" and body.get("node") == member.code)


def start(member: Member, layout: Layout) -> int:
    """Start `tongban serve` for the node in the background (its own process group)."""
    running = pid_of(member)
    if running is not None:
        return running
    log = open(Path(member.data_dir) / "serve.log", "ab")  # noqa: SIM115 (handed to the child)
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tongban",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(member.port),
            "--workers",
            "1",
        ],
        env=environment(member, layout),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _pid_file(member).write_text(str(process.pid))
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"{member.code}: serve exited; see {member.data_dir}/serve.log")
        if healthy(member):
            return process.pid
        time.sleep(0.3)
    raise ClusterError(f"{member.code}: not healthy after {READY_TIMEOUT:.0f} s")


def stop(member: Member, timeout: float = 20.0) -> bool:
    pid = pid_of(member)
    if pid is None:
        _pid_file(member).unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_of(member) is not None:
        time.sleep(0.2)
    if pid_of(member) is not None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _pid_file(member).unlink(missing_ok=True)
    return True


def up(layout: Layout, *, admin_url: str | None) -> Iterator[dict[str, Any]]:
    """Initialise, enrol and start every node; yields a status line per node."""
    root = Path(layout.root)
    root.mkdir(parents=True, exist_ok=True)
    layout.save()
    if admin_url:
        create_databases(layout, admin_url)
    for member in layout.members:
        Path(member.data_dir).mkdir(parents=True, exist_ok=True)
        tongban(member, layout, "init", "--demo")
    hub = layout.hub
    start(hub, layout)
    hub_keys = tongban(hub, layout, "exchange", "public-keys")
    for member in layout.members:
        if member.is_hub:
            continue
        keys_file = Path(member.data_dir) / "keys" / "hub-keys.json"
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text(hub_keys, encoding="utf-8")
        marker = Path(member.data_dir) / "registered"
        if marker.exists():
            tongban(member, layout, "exchange", "register")
        else:
            code = tongban(hub, layout, "exchange", "enrol", member.code).strip()
            tongban(member, layout, "exchange", "register", f"--enrolment={code}")
            marker.write_text(hub.url)
        start(member, layout)
    for member in layout.members:
        if not member.is_hub:
            tongban(member, layout, "exchange", "trust-list", "--fetch")
    yield from status(layout)


def status(layout: Layout) -> Iterator[dict[str, Any]]:
    for member in layout.members:
        yield {
            "code": member.code,
            "url": member.url,
            "pid": pid_of(member),
            "healthy": healthy(member),
        }


def verify(layout: Layout) -> Iterator[dict[str, Any]]:
    """The audit chains of case events and the evidence log of each node."""
    for member in layout.members:
        checks: dict[str, Any] = {}
        for name, args in (
            ("cases", ("audit", "verify")),
            ("evidence", ("exchange", "verify")),
        ):
            try:
                checks[name] = tongban(member, layout, *args).strip().splitlines()[-1:]
                checks[name + "_ok"] = True
            except ClusterError as error:
                checks[name] = str(error).strip().splitlines()[-1:]
                checks[name + "_ok"] = False
        yield {"code": member.code, "ok": checks["cases_ok"] and checks["evidence_ok"], **checks}


def down(layout: Layout) -> Iterator[dict[str, Any]]:
    for member in reversed(layout.members):
        yield {"code": member.code, "stopped": stop(member)}
