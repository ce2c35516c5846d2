"""`tongban bench licenses`: how many credentials one core verifies per second, and how large a
typical licence's QR text is. Offline verification is what every phone and window does, so it
is measured alone: base45, inflate, JSON, the ES256 signature and the validity checks."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import segno

from tongban.licenses import credential
from tongban.licenses.identifiers import LicenseIdentifier
from tongban.licenses.signing import P256Signer

GOAL_PER_SECOND = 5_000
ISSUER = "11500000MB1527373J"  # 重庆市司法局's code in the demo data's shape


def typical_claims(today: dt.date) -> dict[str, Any]:
    """A notarial certificate as the demo issues it: Chinese names and surface fields."""
    identifier = str(LicenseIdentifier("11100000000013338W001", ISSUER, "5001032026000123", 1))
    return {
        "v": 1,
        "lid": identifier,
        "typ": "11100000000013338W001",
        "tn": "公证书",
        "nm": "学历公证书",
        "no": "（2026）渝证字第000123号",
        "hn": "张三",
        "hct": "111",
        "hc": "5001**********1234",
        "hh": credential.holder_hash(identifier, "500103199003071234"),
        "iss": ISSUER,
        "isn": "重庆市司法局",
        "div": "500000",
        "iat": today.isoformat(),
        "nbf": today.isoformat(),
        "exp": (today + dt.timedelta(days=5 * 365)).isoformat(),
    }


@dataclass(frozen=True)
class Figures:
    verifications: int
    seconds: float
    per_second: float
    qr_text_chars: int
    jws_bytes: int
    qr_version: int
    goal_per_second: int = GOAL_PER_SECOND

    @property
    def met(self) -> bool:
        return self.per_second >= self.goal_per_second


CHINA = dt.timezone(dt.timedelta(hours=8))


def run(*, seconds: float = 3.0, today: dt.date | None = None) -> Figures:
    """Verify one typical credential over and over for ``seconds`` on this (single) core."""
    today = today or dt.datetime.now(CHINA).date()
    seal = P256Signer.generate()
    text = credential.encode(typical_claims(today), seal)
    keys = {seal.kid: credential.TrustedKey(seal.public_jwk(), ISSUER)}.get
    credential.verify(text, keys, today=today)  # warm up (and prove it verifies)
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            credential.verify(text, keys, today=today)
        count += 200
    elapsed = time.perf_counter() - started
    return Figures(
        verifications=count,
        seconds=round(elapsed, 3),
        per_second=round(count / elapsed, 1),
        qr_text_chars=len(text),
        jws_bytes=len(credential.jws_of(text)),
        qr_version=int(segno.make(text, error="m").version),
    )
