"""The refusals of data sharing: one code each, worded here for both sides. A node that gets a
refusal from another node words it with its own text for the code (the provider's message may
be in another language), so every code a provider can send is listed."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError


class Refused(DomainError):
    """A call the provider (or this node, before sending it) will not answer."""

    status = 403
    code = "refused"
    default_message = _("The data-sharing call was refused.")


# code → (HTTP status, message)
REFUSALS: dict[str, tuple[int, Promise]] = {
    "unknown_resource": (404, _("No such data resource is served.")),
    "resource_inactive": (409, _("This data resource is out of service.")),
    "no_grant": (
        403,
        _("Your department holds no approved grant for this resource; request access first."),
    ),
    "grant_not_in_force": (403, _("Your department's grant for this resource is not yet valid.")),
    "grant_expired": (403, _("Your department's grant for this resource has expired.")),
    "grant_revoked": (
        403,
        _("The provider has revoked your department's grant for this resource."),
    ),
    "question_not_granted": (403, _("The grant does not cover this question.")),
    "field_not_granted": (403, _("The grant does not cover these fields.")),
    "purpose_mismatch": (
        403,
        _("The stated purpose, or the case's item, does not match the grant's purpose."),
    ),
    "rate_limited": (429, _("The grant's rate limit is reached; try again in a minute.")),
    "malformed_query": (400, _("The query is malformed.")),
    "unknown_case": (404, _("There is no such case here.")),
    "provider_unreachable": (503, _("The providing node cannot be reached; try again later.")),
    "bad_answer": (
        502,
        _("The providing node's answer could not be verified; the call is logged as failed."),
    ),
    "replayed": (409, _("This call was made before.")),
}


def refusal(code: str, *, fields: dict[str, Promise | str] | None = None) -> Refused:
    status, message = REFUSALS.get(code, (403, Refused.default_message))
    error = Refused(message, code=code, fields=fields)
    error.status = status  # type: ignore[misc]
    return error


# What a malformed parameter is called, by the code of questions.QueryError.
PARAM_PROBLEMS: dict[str, Promise] = {
    "malformed_params": _("Give the parameters as an object."),
    "unknown_param": _("The question takes no such parameter."),
    "missing_param": _("This parameter is required."),
    "invalid_param": _("This value is not valid (a string of at most 200 characters)."),
    "invalid_subject": _("This is not a valid ID number or unified social credit code."),
    "invalid_month": _("Give a month as YYYY-MM."),
    "invalid_period": _("The period is not valid (from ≤ to, at most fifty years)."),
    "unknown_question": _("The resource answers no such question."),
    "unknown_field": _("The resource has no such field."),
    "no_fields": _("Name at least one field."),
    "invalid_kind": _("Choose verify or query."),
}
