"""The holder's wallet (我的证照: the licences, each with its offline QR code, a presentation code
and the signed PDF) and the public pages that verify a licence: a presentation link opened by a
verifier's phone camera, and the verify page for a pasted or scanned QR text or a PDF."""

from __future__ import annotations

from typing import Any

import segno
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tongban.api.licenses import MAX_PDF_BYTES, verification_body
from tongban.core.errors import NotFound, ValidationFailed
from tongban.licenses import selectors, verification
from tongban.licenses.credential import MAX_TEXT
from tongban.licenses.models import License, LicenseState

PROBLEM = "portal/licenses/problem.html"


def qr_svg(text: str, *, title: str) -> str:
    """``text`` as an inline SVG QR code (error correction M, as printed on the PDF) without a
    fixed size: the stylesheet makes it as wide as a phone screen allows, so a credential's
    81×81 modules (version 16) stay large enough to scan."""
    return str(
        segno.make(text, error="m", micro=False).svg_inline(
            scale=1, border=4, omitsize=True, title=title, svgclass="qr-code"
        )
    )


def _problem(request: HttpRequest, *, title: str, message: Any, status: int) -> HttpResponse:
    response = render(request, PROBLEM, {"title": title, "message": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _held(request: HttpRequest, identifier: str) -> License | HttpResponse:
    """One of the signed-in person's licences, or the 404 page (the same for a licence that
    exists but is someone else's)."""
    try:
        return selectors.license_held(request.user, identifier)
    except NotFound as error:
        return _problem(
            request, title=_("Licence not found"), message=error.message, status=error.status
        )


@login_required
def my_licenses(request: HttpRequest) -> HttpResponse:
    """My licences, and those of the enterprises I act for: newest first, revoked ones marked."""
    return render(
        request, "portal/licenses/mine.html", {"licenses": selectors.licenses_held(request.user)}
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def my_license(request: HttpRequest, identifier: str) -> HttpResponse:
    """One licence: its face, its offline QR code and the PDF; a POST makes a presentation code
    (a five-minute link to its verified face) to show a verifier."""
    found = _held(request, identifier)
    if isinstance(found, HttpResponse):
        return found
    valid = found.state == LicenseState.VALID
    context: dict[str, Any] = {"license": found, "valid": valid}
    if valid:
        context["credential_qr"] = qr_svg(found.credential, title=_("Licence QR code"))
    if request.method == "POST":
        if not valid:
            # No button is shown for it; an old tab or a crafted form still gets a clear answer.
            context["refused"] = _("A licence that is no longer valid cannot be presented.")
            return render(request, "portal/licenses/license.html", context, status=409)
        token, expires_at = selectors.presentation_token(found)
        url = request.build_absolute_uri(reverse("portal:license_presented", args=[token]))
        context["presentation"] = {
            "url": url,
            "expires_at": expires_at,
            "seconds": selectors.PRESENTATION_SECONDS,
            "qr": qr_svg(url, title=_("Presentation QR code")),
        }
    return render(request, "portal/licenses/license.html", context)


@login_required
def my_license_pdf(request: HttpRequest, identifier: str) -> HttpResponse:
    """The licence as a signed PDF, to download (never cached: it carries the holder's data)."""
    found = _held(request, identifier)
    if isinstance(found, HttpResponse):
        return found
    response = HttpResponse(selectors.license_pdf(found), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.identifier}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


def _shown(outcome: verification.Outcome) -> dict[str, Any]:
    """What the result panel shows: the API's flat verification body, and whether its licence
    fields may be shown at all (only claims whose signature verified are filled in)."""
    body = verification_body(outcome)
    body["signed"] = bool(outcome.claims)
    return body


@never_cache
def license_presented(request: HttpRequest, token: str) -> HttpResponse:
    """What a verifier's phone opens from a presentation code: the licence verified on this node
    now (its credential checked like any other, and its status) with its face; a clear page
    once the five minutes are over. No login: the verifier has none here."""
    try:
        found = selectors.presentation_open(token)
    except ValidationFailed as error:
        if error.code != "presentation_expired":
            raise
        return _problem(
            request, title=_("Presentation code expired"), message=error.message, status=410
        )
    except NotFound as error:
        return _problem(
            request, title=_("Unknown presentation code"), message=error.message, status=404
        )
    outcome = verification.verify_text(found.credential)
    response = render(
        request,
        "portal/licenses/presented.html",
        {"license": found, "result": _shown(outcome)},
    )
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def license_verify(request: HttpRequest) -> HttpResponse:
    """Verify a licence: paste (or scan with the camera) its QR text, or upload its PDF. Every
    answer is a page saying valid or not and exactly why; bad input is a 400 with the reason."""
    context: dict[str, Any] = {"max_text": MAX_TEXT, "text": ""}
    if request.method == "GET":
        return render(request, "portal/licenses/verify.html", context)
    upload = request.FILES.get("file")
    text = request.POST.get("text", "")
    context["text"] = text[:MAX_TEXT]
    if upload is not None or request.POST.get("form") == "pdf":
        if upload is None:
            context["error"] = _("Choose the licence PDF to check.")
        elif upload.size is None or upload.size > MAX_PDF_BYTES:
            context["error"] = _("A licence PDF is at most 20 MB.")
        elif upload.size == 0:
            context["error"] = _("The file is empty.")
        else:
            context["result"] = _shown(verification.verify_pdf(upload.read()))
    elif not text.strip():
        context["error"] = _("Paste the text of the licence QR code, or scan it.")
    else:
        context["result"] = _shown(verification.verify_text(text))
    return render(
        request, "portal/licenses/verify.html", context, status=400 if "error" in context else 200
    )
