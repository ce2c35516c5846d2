"""A local federation on this machine: the hub and provincial nodes as separate processes, each
with its own data directory, database, port, keys and worker, enrolled through the hub's trust
list (`tongban cluster up|status|verify|down`).

Every node is driven through the same `tongban` commands an operator would run; the cluster
layout is kept in ``$TONGBAN_DATA_DIR/cluster/cluster.json``.
"""

from __future__ import annotations

import contextlib
import itertools
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
    # Reached only through the hub's relay (its URL not published in the trust list).
    via_hub: bool = False

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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(root), tuple(Member(**m) for m in data["members"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ClusterError(f"{path} is unreadable ({error}); fix or remove it") from None


def plan(
    root: Path,
    codes: list[str],
    base_port: int,
    postgres_url: str | None,
    via_hub: frozenset[str] = frozenset(),
    database_prefix: str = "tongban_cluster_",
) -> Layout:
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
            database = f"{postgres_url.rstrip('/')}/{database_prefix}{code}"
        members.append(Member(code, base_port + index, str(root / code), database, code in via_hub))
    return Layout(str(root), tuple(members))


def environment(member: Member, layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TONGBAN_DATA_DIR": member.data_dir,
            "TONGBAN_NODE_CODE": member.code,
            "TONGBAN_NODE_URL": member.url,
            "TONGBAN_HUB_URL": "" if member.is_hub else layout.hub.url,
            "TONGBAN_NODE_REACH": "hub" if member.via_hub else "direct",
            "DATABASE_URL": member.database_url,
            "DJANGO_SETTINGS_MODULE": "tongban.settings.dev",
        }
    )
    for name in (
        "TONGBAN_NODE_KEY_DIR",
        "TONGBAN_HUB_KEYS_FILE",
        "TONGBAN_PII_KEY_FILE",
        "TONGBAN_SSO_KEY_FILE",
        "TONGBAN_SEAL_KEY_DIR",
    ):
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


def drop_databases(layout: Layout, admin_url: str) -> None:
    """Remove the members' databases (a throwaway cluster: benchmarks, trials)."""
    import psycopg

    with psycopg.connect(f"{admin_url.rstrip('/')}/postgres", autocommit=True) as connection:
        for member in layout.members:
            name = member.database_url.rsplit("/", 1)[1]
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pid_file(member: Member) -> Path:
    return Path(member.data_dir) / "serve.pid"


def _is_our_serve(pid: int, member: Member) -> bool:
    """Whether `pid` is this node's `tongban serve`, as `start` runs it: the leader of its own
    process group, serving the node's port. A pid file left over from before a reboot or crash
    may name any process by now."""
    try:
        if os.getpgid(pid) != pid:
            return False
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, OverflowError):
        return False
    args = [arg.decode(errors="replace") for arg in raw.split(b"\0")]
    if "serve" not in args:
        return False
    command = args[: args.index("serve")]
    if not any(Path(arg).name == "tongban" for arg in command):
        return False
    options = args[args.index("serve") + 1 :]
    port = str(member.port)
    return f"--port={port}" in options or any(
        option == "--port" and value == port for option, value in itertools.pairwise(options)
    )


def pid_of(member: Member) -> int | None:
    """The pid of the node's running `tongban serve`, or None; a stale pid file is removed."""
    path = _pid_file(member)
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        pid = int(text)
    except ValueError:
        pid = 0
    if pid > 0 and _is_our_serve(pid, member):
        return pid
    path.unlink(missing_ok=True)
    return None


def healthy(member: Member, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{member.url}/healthz", timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read())
        return bool(body.get("status") == "ok" and body.get("node") == member.code)
    except Exception:
        return False


# The servers this process started (when used as a library: tests, benchmarks).
_started: list[subprocess.Popen[bytes]] = []


def start(member: Member, layout: Layout) -> int:
    """Start `tongban serve` for the node in the background (its own process group)."""
    running = pid_of(member)
    if running is not None:
        return running
    # The child keeps its own descriptor of the log; this process closes its one.
    with open(Path(member.data_dir) / "serve.log", "ab") as log:
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
    _started.append(process)  # kept (and reaped) while this process runs, never dropped
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
    """Stop the node's `tongban serve` and everything it started (its process group). Only a
    process `pid_of` recognises as the node's own is ever signalled."""
    pid = pid_of(member)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:  # exited since pid_of looked
        _pid_file(member).unlink(missing_ok=True)
        return True
    except OSError as error:
        raise ClusterError(f"{member.code}: cannot stop process group {pid}: {error}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_of(member) is not None:
        time.sleep(0.2)
    if pid_of(member) is not None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _pid_file(member).unlink(missing_ok=True)
    return True


def superseded(previous: Layout, layout: Layout) -> tuple[Member, ...]:
    """Members of the previous layout that the new one does not run as they are: nodes left
    out, and nodes whose port or database changed (their old process serves the old ones).
    In the order to stop them: provinces first, the hub last."""
    return tuple(m for m in reversed(previous.members) if m not in layout.members)


def stop_superseded(layout: Layout) -> list[str]:
    """Stop what the cluster last brought up but `layout` no longer runs; their codes."""
    root = Path(layout.root)
    if not (root / "cluster.json").exists():
        return []
    previous = Layout.load(root)
    return [member.code for member in superseded(previous, layout) if stop(member)]


def up(layout: Layout, *, admin_url: str | None, demo: bool = True) -> Iterator[dict[str, Any]]:
    """Initialise (with the demo data unless ``demo`` is False), enrol and start every node;
    yields a status line per node."""
    root = Path(layout.root)
    root.mkdir(parents=True, exist_ok=True)
    # Before cluster.json forgets them: `down` only knows the members of the layout saved last.
    stop_superseded(layout)
    layout.save()
    if admin_url:
        create_databases(layout, admin_url)
    for member in layout.members:
        Path(member.data_dir).mkdir(parents=True, exist_ok=True)
        tongban(member, layout, "init", *(["--demo"] if demo else []))
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
