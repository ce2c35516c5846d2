"""Two provinces, one case, for real: a local cluster (hub, Chongqing, Sichuan as separate
processes with their own SQLite databases and keys; Sichuan reached only through the hub's
relay, Chongqing directly) runs `tongban demo flows --cluster`: an
ONLINE application filed in Chongqing and decided in Sichuan, a PROXY case received at a
Chongqing window with a supplement round trip, and two JOINT cases with a leg on each node.
Then a person signs in once at the hub and is signed in on both portals, and one logout ends
both. Then every node's case chains and evidence log verify, and the public look-up answers the
same on both nodes. About a minute: most of it is `init --demo` of three nodes."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from tests.factories import make_id_number, make_phone
from tests.ops import sso_walk

HUB, CHONGQING, SICHUAN = "100000", "500000", "510000"


def _free_block(size: int) -> int:
    """A base port with ``size`` free ports from it (other tests use fixed ones lower down)."""
    for _ in range(50):
        base = random.randrange(20000, 40000)
        try:
            for port in range(base, base + size):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


def _tongban(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TONGBAN_", "DJANGO_")) and name != "DATABASE_URL"
    }
    environment["TONGBAN_DATA_DIR"] = str(data_dir)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tongban", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _public(url: str, number: str, code: str) -> dict[str, object]:
    query = urllib.parse.urlencode({"code": code})
    with urllib.request.urlopen(  # noqa: S310 - loopback
        f"{url}/api/v1/public/cases/{urllib.parse.quote(number)}?{query}", timeout=10
    ) as answer:
        return dict(json.loads(answer.read()))


# Run on the Sichuan node: a credential signed with the seal `tongban init` gave 成都市司法局
# (its key file is Sichuan's alone; Chongqing knows the public key only from the trust list).
SIGN_ON_SICHUAN = """
import datetime
from tongban.licenses import credential, selectors, services
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.models import Seal
seal = Seal.objects.select_related("department").get(
    department__key="cd-justice", retired_at__isnull=True
)
code = services.issuer_code(seal.department)
lid = str(LicenseIdentifier("11100000000000000N001", code, "5101002026000001", 1))
print(credential.encode({
    "v": 1, "lid": lid, "typ": "11100000000000000N001", "tn": "公证书", "nm": "公证书",
    "no": "（2026）川成证字第000001号", "hn": "刘洋", "hct": "111", "hc": "5101**********7311",
    "hh": "-", "iss": code, "isn": seal.department.name, "div": "510100",
    "iat": datetime.date.today().isoformat(), "nbf": datetime.date.today().isoformat(),
    "exp": None,
}, selectors.signer_of(seal)))
"""


def _a_sichuan_licence_verifies_in_chongqing(tmp_path: Path) -> None:
    """The hub's trust list carries Sichuan's issuers (registered at `cluster up`): Chongqing
    verifies a credential signed on Sichuan with nothing but that list, and refuses it
    altered."""
    from tongban.ops import cluster

    layout = cluster.Layout.load(tmp_path / "cluster")
    members = {member.code: member for member in layout.members}
    signed = cluster.tongban(members[SICHUAN], layout, "shell", "-c", SIGN_ON_SICHUAN)
    text = signed.strip().splitlines()[-1]  # after the shell's note of what it imported
    assert text.startswith("TB1:")
    cluster.tongban(members[CHONGQING], layout, "exchange", "trust-list", "--fetch")
    environment = cluster.environment(members[CHONGQING], layout)
    verified = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tongban", "license", "verify", text],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VALID (qr)" in verified.stdout
    assert "node 510000" in verified.stdout
    altered = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    refused = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tongban", "license", "verify", altered],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "NOT VALID (qr)" in refused.stdout


def test_the_cross_province_cases_run_across_real_nodes(tmp_path: Path) -> None:
    base = _free_block(3)
    try:
        up = _tongban(
            tmp_path,
            "cluster",
            "up",
            "--nodes",
            f"{CHONGQING},{SICHUAN}",
            "--base-port",
            str(base),
            "--via-hub",
            SICHUAN,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        urls = {line["code"]: line["url"] for line in map(json.loads, up.stdout.splitlines())}

        flows = _tongban(tmp_path, "demo", "flows", "--cluster")
        assert flows.returncode == 0, flows.stdout + flows.stderr
        lines = [json.loads(line) for line in flows.stdout.splitlines()]
        assert [(line["mode"], line["node"], line["state"]) for line in lines] == [
            ("ONLINE", SICHUAN, "completed"),
            ("PROXY", SICHUAN, "completed"),
            ("JOINT", CHONGQING, "completed"),
            ("JOINT", CHONGQING, "completed"),
        ]
        for line in lines:
            # By the deciding node's number, on both nodes: the same state and steps.
            views = [
                _public(urls[code], line["number"], line["query_code"])
                for code in (CHONGQING, SICHUAN)
            ]
            assert views[0]["state"] == views[1]["state"] == "completed"
            steps = [[entry["action"] for entry in view["timeline"]] for view in views]  # type: ignore[union-attr]
            assert steps[0][-3:] == steps[1][-3:]

        # One sign-in at the hub serves both provinces' portals; one logout ends both.
        sso_walk.sign_up_at_hub(
            urls[HUB], name="刘洋", id_number=make_id_number(731), phone=make_phone(731)
        )
        assert sso_walk.walk(urls[HUB], urls[CHONGQING], urls[SICHUAN], phone=make_phone(731)) == []

        verify = _tongban(tmp_path, "cluster", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        checked = {line["code"]: line for line in map(json.loads, verify.stdout.splitlines())}
        assert "4 case chain(s) verified" in checked[CHONGQING]["cases"]
        assert "4 case chain(s) verified" in checked[SICHUAN]["cases"]
        # What went to Sichuan passed through the hub, which logged it in and out.
        relayed = int(checked[HUB]["evidence"][0].split(": ")[1].split()[0])
        assert relayed > 0

        _a_sichuan_licence_verifies_in_chongqing(tmp_path)
    finally:
        down = _tongban(tmp_path, "cluster", "down")
        assert down.returncode == 0, down.stderr
