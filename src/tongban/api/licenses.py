"""Electronic licences: the status any verifier may ask for (is it still valid?)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema

from tongban.licenses import selectors
from tongban.licenses.models import License

router = Router(tags=["licenses"])


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
