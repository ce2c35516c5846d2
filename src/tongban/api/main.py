"""The JSON API at /api/v1/ (django-ninja; OpenAPI at /api/v1/openapi.json)."""

from __future__ import annotations

from ninja import NinjaAPI

import tongban
from tongban.api import (
    accounts,
    appointments,
    authorisations,
    cases,
    catalog,
    datashare,
    delivery,
    errors,
    licenses,
    regions,
)

api = NinjaAPI(
    title="tongban API",
    version=tongban.__version__,
    description="跨省通办 node API. Errors are JSON {code, message, fields} with a 4xx status; "
    "messages are Chinese by default and English with `Accept-Language: en`.",
    urls_namespace="api",
)
errors.install(api)
api.add_router("/regions/", regions.router)
api.add_router("/accounts/", accounts.router)
api.add_router("/catalog/", catalog.router)
api.add_router("/cases", cases.router)
api.add_router("/authorisations", authorisations.router)
api.add_router("/public/", cases.public_router)
api.add_router("/", delivery.router)
api.add_router("/appointments", appointments.router)
api.add_router("/licenses", licenses.router)
api.add_router("/datashare", datashare.router)
