"""Electronic licences: the status and the revocation list any verifier may read, verification
of a QR text or a PDF, the holder's licences (wallet, PDF, presentation code), and the issuing
department's revocation and re-issue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import File, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from ninja.security import django_auth

from tongban.core.errors import ValidationFailed
from tongban.licenses import selectors, services, verification
from tongban.licenses.models import License

router = Router(tags=["licenses"])

MAX_PDF_BYTES = 20 * 1024 * 1024


class StatusOut(Schema):
    identifier: str
    state: str
    issuer: str
    issued_on: dt.date
    valid_until: dt.date | None
    revoked_at: dt.datetime | None

    @staticmethod
    def resolve_issuer(obj: License) -> str:
        return obj.issuer.name


@router.get("/status/{identifier}", response=StatusOut, auth=None)
def license_status(request: HttpRequest, identifier: str) -> License:
    """Whether a licence this node issued is valid, superseded or revoked (and since when). No
    login: every verifier asks; nothing about the holder is said."""
    return selectors.license_status(identifier=identifier)


@router.get(
    "/revocations",
    auth=None,
    openapi_extra={
        "responses": {
            200: {
                "description": "The signed revocation list (compact JWS, application/jose); "
                "see docs/license-credential.md.",
                "content": {"application/jose": {"schema": {"type": "string"}}},
            }
        }
    },
)
def license_revocations(request: HttpRequest, since: int = 0) -> HttpResponse:
    """This node's revocation list after place ``since`` (0: all), signed with the node's key:
    what offline verifiers and other nodes fetch as deltas."""
    if since < 0:
        raise ValidationFailed(fields={"since": _("A place in the list, from 0.")})
    response = HttpResponse(services.revocation_list(since=since), content_type="application/jose")
    response["Cache-Control"] = "max-age=60"
    return response


class VerifyIn(Schema):
    text: str


class VerifyOut(Schema):
    valid: bool
    code: str
    message: str
    form: str
    identifier: str = ""
    name: str = ""
    number: str = ""
    holder: str = ""
    holder_code: str = ""
    issuer: str = ""
    issuer_node: str = ""
    issued_on: str = ""
    valid_until: str | None = None
    status_source: str = ""
    status_as_of: dt.datetime | None = None


def verification_body(outcome: verification.Outcome) -> dict[str, Any]:
    claims = outcome.claims
    return {
        "valid": outcome.valid,
        "code": outcome.code,
        "message": outcome.message,
        "form": outcome.form,
        "identifier": str(claims.get("lid", "")),
        "name": str(claims.get("nm", "")),
        "number": str(claims.get("no", "")),
        "holder": str(claims.get("hn", "")),
        "holder_code": str(claims.get("hc", "")),
        "issuer": outcome.issuer or str(claims.get("isn", "")),
        "issuer_node": outcome.node,
        "issued_on": str(claims.get("iat", "")),
        "valid_until": claims.get("exp"),
        "status_source": outcome.status_source,
        "status_as_of": outcome.status_as_of,
    }


@router.post("/verify", response=VerifyOut, auth=None)
def verify_license(request: HttpRequest, payload: VerifyIn) -> dict[str, Any]:
    """Verify a licence credential (the QR text, or its JWS form) against the trust list and
    the revocation lists this node holds. Always 200: ``valid`` and ``code`` say whether and
    why not (malformed, unknown_issuer, bad_signature, wrong_key, not_yet_valid, expired,
    revoked, superseded)."""
    return verification_body(verification.verify_text(payload.text))


@router.post("/verify/pdf", response=VerifyOut, auth=None)
def verify_license_pdf(request: HttpRequest, file: File[UploadedFile]) -> dict[str, Any]:
    """Verify a licence PDF (multipart ``file``): its signature intact over the whole file, by
    a trusted issuer, and the credential inside it valid. Codes as for ``verify`` plus
    unsigned, modified, malformed_pdf, no_credential."""
    if file.size is None or file.size > MAX_PDF_BYTES:
        raise ValidationFailed(fields={"file": _("A licence PDF is at most 20 MB.")})
    return verification_body(verification.verify_pdf(file.read()))


class HeldOut(Schema):
    identifier: str
    name: str
    number: str
    holder: str
    issuer: str
    issued_on: dt.date
    valid_until: dt.date | None
    state: str
    surface: list[list[str]]
    credential: str
    case_number: str | None

    @staticmethod
    def resolve_issuer(obj: License) -> str:
        return obj.issuer.name

    @staticmethod
    def resolve_case_number(obj: License) -> str | None:
        return obj.case.number if obj.case is not None else None

    @staticmethod
    def resolve_holder(obj: License) -> str:
        return obj.holder_name


@router.get("/mine", response=list[HeldOut], auth=django_auth)
def my_licenses(request: HttpRequest) -> list[License]:
    """The licences you hold, and those of the enterprises you act for (the wallet)."""
    return selectors.licenses_held(request.user)


@router.get(
    "/mine/{identifier}/pdf",
    auth=django_auth,
    openapi_extra={
        "responses": {
            200: {
                "description": "The signed licence PDF.",
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def my_license_pdf(request: HttpRequest, identifier: str) -> HttpResponse:
    """One of your licences as a signed PDF (PAdES; any PDF reader shows the signature)."""
    found = selectors.license_held(request.user, identifier)
    response = HttpResponse(selectors.license_pdf(found), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.identifier}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


class PresentationOut(Schema):
    url: str
    expires_at: dt.datetime


@router.post("/mine/{identifier}/presentation", response=PresentationOut, auth=django_auth)
def present_license(request: HttpRequest, identifier: str) -> dict[str, Any]:
    """A link that shows this licence, verified, on this node for five minutes: the QR code a
    verifier's phone camera opens (亮证)."""
    from django.urls import reverse

    found = selectors.license_held(request.user, identifier)
    token, expires_at = selectors.presentation_token(found)
    url = request.build_absolute_uri(reverse("portal:license_presented", args=[token]))
    return {"url": url, "expires_at": expires_at}


class ReasonIn(Schema):
    reason: str


@router.post("/{identifier}/revoke", response=StatusOut, auth=django_auth)
def revoke_license(request: HttpRequest, identifier: str, payload: ReasonIn) -> License:
    """Revoke a licence of your department (approver or department admin), with the reason."""
    return services.license_revoke(actor=request.user, identifier=identifier, reason=payload.reason)


@router.post("/{identifier}/reissue", response={201: StatusOut}, auth=django_auth)
def reissue_license(request: HttpRequest, identifier: str, payload: ReasonIn) -> Status[License]:
    """Issue a new version of a valid licence of your department; the old one is superseded."""
    return Status(
        201,
        services.license_reissue(actor=request.user, identifier=identifier, reason=payload.reason),
    )
