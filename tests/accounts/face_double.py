"""A face-verification provider for tests: what a real provider plugs in as. Its verdicts are
JSON objects signed with HMAC-SHA256 under a secret shared with the node (a real provider may
sign with its own key pair; the method checks whatever its provider uses)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tongban.accounts.models import Person, RealNameLevel
from tongban.accounts.verification import (
    VerificationMethod,
    VerificationStart,
    VerificationVerdict,
)
from tongban.core.errors import Forbidden, ValidationFailed

SECRET = b"face-provider-shared-secret-for-tests"
PATH = "tests.accounts.face_double.FaceDouble"


def sign(verdict: Mapping[str, Any], secret: bytes = SECRET) -> dict[str, Any]:
    body = json.dumps(dict(verdict), sort_keys=True, ensure_ascii=False).encode()
    return {**verdict, "signature": hmac.new(secret, body, hashlib.sha256).hexdigest()}


class FaceDouble(VerificationMethod):
    key = "face_double"
    label = "人脸识别（测试）"
    level = RealNameLevel.VERIFIED_IN_PERSON
    instructions = "在手机上完成人脸识别。"
    online = True

    def start(self, *, person: Person, state: str) -> VerificationStart:
        return VerificationStart(
            redirect_url="https://face.example.test/verify?" + urlencode({"state": state})
        )

    def complete(self, *, payload: Mapping[str, Any]) -> VerificationVerdict:
        body = {key: value for key, value in payload.items() if key != "signature"}
        expected = sign(body)["signature"]
        if not hmac.compare_digest(str(payload.get("signature", "")), expected):
            raise Forbidden("签名无效", code="verification_signature_invalid")
        if not isinstance(body.get("state"), str) or not isinstance(body.get("passed"), bool):
            raise ValidationFailed(fields={"state": "缺少"})
        return VerificationVerdict(
            state=body["state"],
            reference=str(body.get("reference", "")),
            passed=body["passed"],
            evidence={"score": body.get("score")},
        )


class IdentityCheckDouble(FaceDouble):
    """A provider that grants L2 only (e.g. a check against the identity database)."""

    key = "identity_double"
    label = "身份核验（测试）"
    level = RealNameLevel.IDENTITY_VERIFIED
