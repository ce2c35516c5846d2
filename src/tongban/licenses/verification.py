"""Verifying a licence shown to this node — a QR text or a signed PDF — the way every verifier
does: the signature against the issuer keys of the trust list (and this node's own seals), the
validity dates, then the status: this node's own record for what it issued, the revocation
lists of the other nodes for the rest. One function answers the verify page, the API and
`tongban license verify`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError
from tongban.exchange import trust
from tongban.licenses import credential
from tongban.licenses.models import (
    License,
    LicenseState,
    PeerRevocation,
    RevocationListCopy,
    Seal,
)

# Why a licence is not valid, for people (the codes are for programs).
REASONS = {
    "malformed": _("This is not a licence credential, or it is damaged or incomplete."),
    "unknown_issuer": _(
        "The issuer is unknown: the signing key is not in the trust list of this node."
    ),
    "bad_signature": _("The signature does not match: the licence was altered after signing."),
    "wrong_key": _("The licence is signed with a key that is not its issuer's."),
    "not_yet_valid": _("The licence is not valid yet."),
    "expired": _("The licence has expired."),
    "revoked": _("The issuer has revoked this licence."),
    "superseded": _("A newer version of this licence replaces this one."),
    "unsigned": _("The PDF carries no signature."),
    "modified": _(
        "The PDF was changed after it was signed (content was added or a page was replaced)."
    ),
    "malformed_pdf": _("The file is not a readable PDF."),
    "no_credential": _("The PDF is signed but carries no licence credential."),
    "valid": _("The licence is valid."),
}


@dataclass(frozen=True)
class Issuer:
    key: credential.TrustedKey
    name: str
    node: str


@dataclass(frozen=True)
class Outcome:
    """What a verifier is told: valid or not and exactly why; what the licence says (only
    once its signature verified); who issued it; and how fresh the status is."""

    valid: bool
    code: str
    form: str  # "qr" or "pdf"
    claims: dict[str, Any] = field(default_factory=dict)
    issuer: str = ""
    node: str = ""
    # Where the status came from: "issuer" (this node issued it), "revocation_list" (the
    # issuing node's list as held here), "none" (no list of that node held yet).
    status_source: str = ""
    status_as_of: dt.datetime | None = None
    detail: str = ""

    @property
    def message(self) -> str:
        reason = str(REASONS.get(self.code, self.code))
        return f"{reason} {self.detail}".strip()


def issuers(listed: trust.TrustList | None, *, local: bool = True) -> dict[str, Issuer]:
    """Every issuer key this node trusts, by key id: the seals of this node's own departments
    and the issuers the trust list names (``listed``; by default the list in force)."""
    found: dict[str, Issuer] = {}
    if listed is not None:
        for node in listed.nodes:
            for issuer in node.issuers:
                for key in issuer.keys:
                    if key.revoked:
                        continue
                    found[key.kid] = Issuer(
                        credential.TrustedKey(
                            key.jwk,
                            issuer.code,
                            key.not_before.date(),
                            key.not_after.date() if key.not_after else None,
                        ),
                        issuer.name,
                        node.code,
                    )
    if local:
        from tongban.licenses.services import issuer_code

        for seal in Seal.objects.select_related("department"):
            found[seal.kid] = Issuer(
                credential.TrustedKey(
                    seal.public_jwk,
                    issuer_code(seal.department),
                    timezone.localdate(seal.not_before),
                    timezone.localdate(seal.not_after),
                ),
                seal.department.name,
                settings.TONGBAN_NODE_CODE,
            )
    return found


def trust_list_in_force() -> trust.TrustList | None:
    from tongban.exchange import services as exchange

    try:
        return exchange.trust_list_current()
    except DomainError:
        return None


def verify_text(
    text: str,
    *,
    listed: trust.TrustList | None = None,
    local: bool = True,
    today: dt.date | None = None,
) -> Outcome:
    """Verify a QR text (or its JWS form). ``listed``: the trust list to use (default: the one
    in force); ``local``: whether this node's own seals count as trusted too."""
    known = issuers(listed if listed is not None else trust_list_in_force(), local=local)
    return _verify(text, known, form="qr", today=today or timezone.localdate())


def verify_pdf(
    data: bytes,
    *,
    listed: trust.TrustList | None = None,
    local: bool = True,
    today: dt.date | None = None,
) -> Outcome:
    """Verify a licence PDF: its PAdES signature intact and covering the whole file, made with
    a trusted issuer key, and the credential it carries valid and signed by the same key."""
    from tongban.licenses import pdf

    try:
        checked = pdf.inspect(data)
    except pdf.PdfError as error:
        code = {"malformed": "malformed_pdf"}.get(error.code, error.code)
        return Outcome(valid=False, code=code, form="pdf")
    known = issuers(listed if listed is not None else trust_list_in_force(), local=local)
    if checked.kid not in known:
        return Outcome(valid=False, code="unknown_issuer", form="pdf")
    if not checked.credential:
        return Outcome(valid=False, code="no_credential", form="pdf")
    outcome = _verify(checked.credential, known, form="pdf", today=today or timezone.localdate())
    if outcome.code not in ("malformed", "unknown_issuer", "bad_signature"):
        signed_by = known[checked.kid]
        if signed_by.key.issuer_code != outcome.claims.get("iss"):
            return Outcome(valid=False, code="wrong_key", form="pdf")
    return outcome


def _verify(text: str, known: dict[str, Issuer], *, form: str, today: dt.date) -> Outcome:
    try:
        verified = credential.verify(
            text, lambda kid: known[kid].key if kid in known else None, today=today
        )
    except credential.CredentialInvalid as problem:
        return Outcome(valid=False, code=problem.code, form=form)
    issuer = known[verified.kid]
    state, source, as_of = _status(str(verified.claims["lid"]), issuer.node)
    return Outcome(
        valid=state == LicenseState.VALID,
        code="valid" if state == LicenseState.VALID else state,
        form=form,
        claims=verified.claims,
        issuer=issuer.name,
        node=issuer.node,
        status_source=source,
        status_as_of=as_of,
    )


def _status(identifier: str, node: str) -> tuple[str, str, dt.datetime | None]:
    """(state, source, as of) of a licence whose signature verified."""
    own = License.objects.filter(identifier=identifier).values_list("state", flat=True).first()
    if own is not None:
        return str(own), "issuer", timezone.now()
    held = RevocationListCopy.objects.filter(node=node).first()
    listed = PeerRevocation.objects.filter(identifier=identifier).first()
    as_of = held.fetched_at if held else None
    if listed is not None:
        return listed.state, "revocation_list", as_of
    return LicenseState.VALID, "revocation_list" if as_of else "none", as_of
